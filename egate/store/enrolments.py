"""Enrolled travellers: identity, documents and encrypted face templates.

Templates are sealed with the traveller id as associated data. Erasure deletes the
traveller with its documents and templates; the audit record of the erasure keeps
only the traveller id and counts (no personal data in the immutable log).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from egate.audit import AuditAction
from egate.crypto import EncryptedTemplate, TemplateKeyring, decrypt_template, encrypt_template
from egate.documents import Sex
from egate.store.audit_log import AuditLog
from egate.store.errors import DocumentAlreadyEnrolled, NotFound, TemplateKeyMissing
from egate.store.models import Document, Template, Traveller
from egate.store.records import (
    DocumentData,
    Enrolment,
    StoredTemplate,
    TemplateData,
    TravellerData,
)


class Enrolments:
    def __init__(
        self,
        session: Session,
        keyring: TemplateKeyring | None,
        audit: AuditLog,
        clock: Callable[[], datetime],
    ) -> None:
        self._session = session
        self._keyring = keyring
        self._audit = audit
        self._clock = clock

    def create(
        self,
        traveller: TravellerData,
        documents: Sequence[DocumentData],
        templates: Sequence[TemplateData],
        *,
        actor: str,
        traveller_id: str | None = None,
    ) -> Enrolment:
        """Enrol a traveller; raises `DocumentAlreadyEnrolled` if a document is taken."""
        traveller_id = traveller_id or str(uuid.uuid4())
        now = self._clock()
        self._check_documents_free(documents, traveller_id)
        row = Traveller(id=traveller_id, created_at=now, updated_at=now)
        _set_identity(row, traveller)
        row.documents = [_document_row(d) for d in documents]
        row.templates = [self._template_row(traveller_id, t, now) for t in templates]
        self._session.add(row)
        self._session.flush()
        self._audit.append(
            actor,
            AuditAction.ENROLMENT_CREATE,
            traveller_id,
            {
                "documents": len(documents),
                "templates": len(templates),
            },
        )
        return self._enrolment(row)

    def get(self, traveller_id: str) -> Enrolment | None:
        row = self._session.get(Traveller, traveller_id)
        return None if row is None else self._enrolment(row)

    def find_by_document(self, issuer: str, number: str) -> Enrolment | None:
        """The enrolment holding document (issuer, number), if any."""
        row = self._session.scalars(
            select(Traveller)
            .join(Document)
            .where(Document.issuer == issuer, Document.number == number)
        ).first()
        return None if row is None else self._enrolment(row)

    def update(
        self,
        traveller_id: str,
        *,
        actor: str,
        traveller: TravellerData | None = None,
        documents: Sequence[DocumentData] | None = None,
        templates: Sequence[TemplateData] | None = None,
    ) -> Enrolment:
        """Replace whichever of identity, documents and templates is given."""
        row = self._session.get(Traveller, traveller_id)
        if row is None:
            raise NotFound("enrolment", traveller_id)
        now = self._clock()
        changed: list[str] = []
        if traveller is not None:
            _set_identity(row, traveller)
            changed.append("identity")
        if documents is not None:
            self._check_documents_free(documents, traveller_id)
            row.documents = []
            self._session.flush()  # old rows go first: a kept document would collide
            row.documents = [_document_row(d) for d in documents]
            changed.append("documents")
        if templates is not None:
            row.templates = [self._template_row(traveller_id, t, now) for t in templates]
            changed.append("templates")
        row.updated_at = now
        self._session.flush()
        self._audit.append(
            actor,
            AuditAction.ENROLMENT_UPDATE,
            traveller_id,
            {
                "changed": changed,
                "documents": len(row.documents),
                "templates": len(row.templates),
            },
        )
        return self._enrolment(row)

    def erase(self, traveller_id: str, *, actor: str) -> None:
        """Delete the traveller, documents and templates; raises `NotFound`."""
        row = self._session.get(Traveller, traveller_id)
        if row is None:
            raise NotFound("enrolment", traveller_id)
        counts = {"documents": len(row.documents), "templates": len(row.templates)}
        self._session.delete(row)
        self._session.flush()
        self._audit.append(actor, AuditAction.ENROLMENT_ERASE, traveller_id, counts)

    def templates(
        self, *, embedder: str | None = None
    ) -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
        """Every stored template as (traveller id, (D,) float32), e.g. to build a gallery."""
        keyring = self._require_keyring()
        query = select(Template.traveller_id, Template.key_id, Template.nonce, Template.ciphertext)
        if embedder is not None:
            query = query.where(Template.embedder == embedder)
        for traveller_id, key_id, nonce, ciphertext in self._session.execute(
            query.order_by(Template.id)
        ):
            sealed = EncryptedTemplate(key_id, nonce, ciphertext)
            yield (
                traveller_id,
                decrypt_template(keyring, sealed, associated_data=traveller_id.encode()),
            )

    def reencrypt(self, *, actor: str, limit: int = 1000) -> int:
        """Re-seal up to `limit` templates not under the active key; returns how many.
        Call until it returns 0 to finish a key rotation."""
        keyring = self._require_keyring()
        rows = self._session.scalars(
            select(Template)
            .where(Template.key_id != keyring.active)
            .order_by(Template.id)
            .limit(limit)
        ).all()
        for row in rows:
            aad = row.traveller_id.encode()
            vector = decrypt_template(keyring, _sealed(row), associated_data=aad)
            fresh = encrypt_template(keyring, vector, associated_data=aad)
            row.key_id, row.nonce, row.ciphertext = fresh.key_id, fresh.nonce, fresh.ciphertext
        if rows:
            self._session.flush()
            self._audit.append(
                actor, AuditAction.TEMPLATES_REKEY, keyring.active, {"templates": len(rows)}
            )
        return len(rows)

    # -- internals -------------------------------------------------------------------

    def _require_keyring(self) -> TemplateKeyring:
        if self._keyring is None:
            raise TemplateKeyMissing()
        return self._keyring

    def _check_documents_free(self, documents: Sequence[DocumentData], traveller_id: str) -> None:
        for doc in documents:
            owner = self._session.scalar(
                select(Document.traveller_id).where(
                    Document.issuer == doc.issuer, Document.number == doc.number
                )
            )
            if owner is not None and owner != traveller_id:
                raise DocumentAlreadyEnrolled(doc.issuer, doc.number, owner)

    def _template_row(self, traveller_id: str, template: TemplateData, now: datetime) -> Template:
        sealed = encrypt_template(
            self._require_keyring(), template.vector, associated_data=traveller_id.encode()
        )
        return Template(
            embedder=template.embedder,
            key_id=sealed.key_id,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            created_at=now,
        )

    def _enrolment(self, row: Traveller) -> Enrolment:
        templates: tuple[StoredTemplate, ...] = ()
        if row.templates:
            keyring = self._require_keyring()
            aad = row.id.encode()
            templates = tuple(
                StoredTemplate(
                    t.id,
                    t.embedder,
                    t.key_id,
                    decrypt_template(keyring, _sealed(t), associated_data=aad),
                    t.created_at,
                )
                for t in row.templates
            )
        return Enrolment(
            traveller_id=row.id,
            traveller=TravellerData(
                row.surname, row.given_names, row.birth_date, row.nationality, Sex(row.sex)
            ),
            documents=tuple(
                DocumentData(d.issuer, d.number, d.document_code, d.expiry_date)
                for d in row.documents
            ),
            templates=templates,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _set_identity(row: Traveller, traveller: TravellerData) -> None:
    row.surname = traveller.surname
    row.given_names = traveller.given_names
    row.birth_date = traveller.birth_date
    row.nationality = traveller.nationality
    row.sex = traveller.sex.value


def _document_row(doc: DocumentData) -> Document:
    return Document(
        issuer=doc.issuer,
        number=doc.number,
        document_code=doc.document_code,
        expiry_date=doc.expiry_date,
    )


def _sealed(row: Template) -> EncryptedTemplate:
    return EncryptedTemplate(row.key_id, row.nonce, row.ciphertext)
