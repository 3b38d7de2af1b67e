"""Enrolment on real photographs: templates encrypted in the store, the 1:N gallery kept
in step (and rebuildable from the store), duplicates and bad photos refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from store_fixtures import database_url, store  # noqa: F401 - fixtures

from biometrics.embedding import OnnxEmbedder
from biometrics.matcher import Gallery
from biometrics.pipeline import Capture, FaceProcessor
from biometrics.quality import QualityPolicy
from egate.documents import DocumentType, Sex, TravelDocument
from egate.enrolment import (
    EnrolmentPhotoRejected,
    Enrolments,
    FaceAlreadyEnrolled,
    StoreEnrolmentLookup,
    rebuild_gallery,
)
from egate.store import Store

DOC = TravelDocument(
    format=DocumentType.TD3, code="P", issuer="USA", number="X12345678", surname="OBAMA",
    given_names="BARACK", nationality="USA", birth_date=date(1961, 8, 4), sex=Sex.MALE,
    expiry_date=date(2031, 3, 1),
)  # fmt: skip
OTHER = replace(DOC, number="Y00000001", surname="SOMEONE", given_names="ELSE")


@pytest.fixture(scope="module")
def captures(faces_root: Path) -> dict[str, Capture]:
    processor = FaceProcessor(OnnxEmbedder(), QualityPolicy.photo())
    names = {
        "obama": "people/obama/obama.jpg",
        "obama2": "people/obama/obama2.jpg",
        "biden": "people/biden/biden.jpg",
        "group": "group/two_people.jpg",
    }
    return {k: processor.process((faces_root / v).read_bytes()) for k, v in names.items()}


@pytest.fixture
def gallery(tmp_path: Path) -> Gallery:
    return Gallery.create(tmp_path / "gallery")


def test_enrol_stores_encrypted_templates_and_indexes_them(
    store: Store,  # noqa: F811
    gallery: Gallery,
    captures: dict[str, Capture],
) -> None:
    enrolled = Enrolments(store, gallery=gallery).enrol(DOC, [captures["obama"]], actor="op-1")
    assert gallery.ids == [f"{enrolled.traveller_id}/0"]
    with store.read() as uow:
        templates = StoreEnrolmentLookup(uow).templates(DOC)
        assert StoreEnrolmentLookup(uow).templates(OTHER) is None
    assert templates is not None
    assert captures["obama"].embedding is not None
    np.testing.assert_array_equal(templates[0], captures["obama"].embedding)
    assert store.verify_audit().ok


def test_same_face_under_another_document_is_refused(
    store: Store,  # noqa: F811
    gallery: Gallery,
    captures: dict[str, Capture],
) -> None:
    enrolments = Enrolments(store, gallery=gallery)
    first = enrolments.enrol(DOC, [captures["obama"]], actor="op-1")
    with pytest.raises(FaceAlreadyEnrolled, match=f"traveller {first.traveller_id}"):
        enrolments.enrol(OTHER, [captures["obama2"]], actor="op-1")
    enrolments.enrol(OTHER, [captures["biden"]], actor="op-1")
    assert len(gallery) == 2


def test_photo_without_one_good_face_stores_nothing(
    store: Store,  # noqa: F811
    gallery: Gallery,
    captures: dict[str, Capture],
) -> None:
    with pytest.raises(EnrolmentPhotoRejected, match="enrolment photo 1: One person at a time"):
        Enrolments(store, gallery=gallery).enrol(
            DOC, [captures["obama"], captures["group"]], actor="op-1"
        )
    with store.read() as uow:
        assert uow.enrolments.find_by_document("USA", "X12345678") is None
    assert len(gallery) == 0


def test_replace_and_erase_keep_the_gallery_in_step(
    store: Store,  # noqa: F811
    gallery: Gallery,
    captures: dict[str, Capture],
) -> None:
    enrolments = Enrolments(store, gallery=gallery)
    traveller = enrolments.enrol(DOC, [captures["obama"]], actor="op-1").traveller_id
    enrolments.replace_faces(traveller, [captures["obama"], captures["obama2"]], actor="op-1")
    assert sorted(gallery.ids) == [f"{traveller}/0", f"{traveller}/1"]
    enrolments.erase(traveller, actor="op-1")
    assert len(gallery) == 0
    with store.read() as uow:
        assert StoreEnrolmentLookup(uow).templates(DOC) is None
    assert store.verify_audit().ok


def test_gallery_is_rebuilt_from_the_store(
    store: Store,  # noqa: F811
    tmp_path: Path,
    captures: dict[str, Capture],
) -> None:
    enrolments = Enrolments(store, gallery=Gallery.create(tmp_path / "first"))
    a = enrolments.enrol(DOC, [captures["obama"], captures["obama2"]], actor="op")
    b = enrolments.enrol(OTHER, [captures["biden"]], actor="op")
    fresh = Gallery.create(tmp_path / "fresh")
    fresh.add(["stale/0"], np.ones((1, 128), np.float32))
    assert rebuild_gallery(store, fresh) == 3
    expected = [f"{a.traveller_id}/0", f"{a.traveller_id}/1", f"{b.traveller_id}/0"]
    assert sorted(fresh.ids) == sorted(expected)
