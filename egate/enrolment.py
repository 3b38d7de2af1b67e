"""e-Gate registration: enrol a traveller's document and face, update, erase.

The database (encrypted templates, audit) is the record; the 1:N gallery is an index
over it, written after the database commit and rebuilt from it with `rebuild_gallery`
(so a crash between the two can only leave the gallery behind, never ahead). Gallery
ids are `<traveller id>/<k>`, k the template's rank among the traveller's templates
(in storage order): a traveller may have several.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from biometrics.matcher import Gallery, Searcher
from biometrics.pipeline import Capture
from egate import EgateError
from egate.crossing import Embeddings
from egate.documents import TravelDocument
from egate.store import (
    DocumentData,
    Enrolment,
    Store,
    TemplateData,
    TravellerData,
    UnitOfWork,
)

EMBEDDER = "dlib_resnet_v1"
"""Name stored with each template: the network that made it (templates of different
networks are not comparable)."""


class EnrolmentPhotoRejected(EgateError):
    """An enrolment photograph failed the quality check; nothing was stored."""

    code = "enrolment_photo_rejected"

    def __init__(self, index: int, issues: Sequence[str]) -> None:
        super().__init__(f"enrolment photo {index}: {'; '.join(issues)}")
        self.index = index
        self.issues = tuple(issues)


class FaceAlreadyEnrolled(EgateError):
    """The face is already enrolled under another traveller (one person, one enrolment)."""

    code = "face_already_enrolled"

    def __init__(self, traveller_id: str, distance: float) -> None:
        super().__init__(
            f"face already enrolled as traveller {traveller_id} (distance {distance:.3f})"
        )
        self.traveller_id = traveller_id
        self.distance = distance


def templates_from(captures: Sequence[Capture]) -> list[TemplateData]:
    """Templates from processed enrolment photos; any photo without a usable face refuses all."""
    if not captures:
        raise EnrolmentPhotoRejected(0, ["no photograph given"])
    for index, capture in enumerate(captures):
        if capture.embedding is None:
            raise EnrolmentPhotoRejected(index, capture.quality.messages)
    return [TemplateData(EMBEDDER, c.embedding) for c in captures if c.embedding is not None]


def gallery_ids(enrolment: Enrolment) -> list[str]:
    return [f"{enrolment.traveller_id}/{k}" for k in range(len(enrolment.templates))]


class Enrolments:
    """Enrol, update and erase travellers in `store`, keeping `gallery` (optional) in step.

    `duplicate_threshold` (Euclidean distance): a new face this close to an enrolled
    face of another traveller is refused; None disables the 1:N check.
    """

    def __init__(
        self,
        store: Store,
        *,
        gallery: Gallery | None = None,
        duplicate_threshold: float | None = 0.4,
    ) -> None:
        self.store = store
        self.gallery = gallery
        self._searcher = Searcher(gallery) if gallery is not None else None
        self.duplicate_threshold = duplicate_threshold

    def enrol(
        self, document: TravelDocument, captures: Sequence[Capture], *, actor: str
    ) -> Enrolment:
        """Enrol the holder of `document` with faces from `captures` (see `templates_from`)."""
        templates = templates_from(captures)
        self._refuse_duplicates(templates, traveller_id=None)
        with self.store.unit_of_work() as uow:
            enrolment = uow.enrolments.create(
                TravellerData.from_document(document),
                [DocumentData.from_document(document)],
                templates,
                actor=actor,
            )
        self._index(enrolment)
        return enrolment

    def replace_faces(
        self, traveller_id: str, captures: Sequence[Capture], *, actor: str
    ) -> Enrolment:
        """Replace every template of a traveller (a new photograph)."""
        templates = templates_from(captures)
        self._refuse_duplicates(templates, traveller_id=traveller_id)
        with self.store.unit_of_work() as uow:
            before = uow.enrolments.get(traveller_id)
            enrolment = uow.enrolments.update(traveller_id, templates=templates, actor=actor)
        if before is not None:
            self._unindex(before)
        self._index(enrolment)
        return enrolment

    def erase(self, traveller_id: str, *, actor: str) -> None:
        """Erase a traveller: person, documents and templates (the audit keeps counts only)."""
        with self.store.unit_of_work() as uow:
            enrolment = uow.enrolments.get(traveller_id)
            uow.enrolments.erase(traveller_id, actor=actor)
        if enrolment is not None:
            self._unindex(enrolment)

    def _refuse_duplicates(
        self, templates: Sequence[TemplateData], traveller_id: str | None
    ) -> None:
        if self._searcher is None or self.duplicate_threshold is None or not self.gallery:
            return
        queries = np.stack([t.vector for t in templates]).astype(np.float32)
        for hits in self._searcher.search(queries, k=5, threshold=self.duplicate_threshold):
            for hit in hits:
                owner = hit.id.split("/", 1)[0]
                if owner != traveller_id:
                    raise FaceAlreadyEnrolled(owner, hit.distance)

    def _index(self, enrolment: Enrolment) -> None:
        if self.gallery is not None and enrolment.templates:
            vectors = np.stack([t.vector for t in enrolment.templates])
            self.gallery.add(gallery_ids(enrolment), vectors)

    def _unindex(self, enrolment: Enrolment) -> None:
        if self.gallery is not None:
            self.gallery.remove([i for i in gallery_ids(enrolment) if i in self.gallery])


class StoreEnrolmentLookup:
    """The crossing's `EnrolmentLookup` inside a unit of work: templates by document."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def templates(self, document: TravelDocument) -> Embeddings | None:
        enrolment = self._uow.enrolments.find_by_document(document.issuer, document.number)
        if enrolment is None or not enrolment.templates:
            return None
        return np.stack([t.vector for t in enrolment.templates]).astype(np.float32)


def rebuild_gallery(store: Store, gallery: Gallery) -> int:
    """Make `gallery` hold exactly the enrolled templates; returns how many it holds."""
    wanted: dict[str, Embeddings] = {}
    rank: dict[str, int] = {}
    with store.read() as uow:
        for traveller_id, vector in uow.enrolments.templates(embedder=EMBEDDER):
            k = rank[traveller_id] = rank.get(traveller_id, -1) + 1
            wanted[f"{traveller_id}/{k}"] = vector
    return _sync(gallery, wanted)


def _sync(gallery: Gallery, wanted: dict[str, Embeddings]) -> int:
    stale = [i for i in gallery.ids if i not in wanted]
    if stale:
        gallery.remove(stale)
    missing = [i for i in wanted if i not in gallery]
    if missing:
        gallery.add(missing, np.stack([wanted[i] for i in missing]))
    return len(gallery)
