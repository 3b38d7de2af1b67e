"""The audit chain in the database: append under the head-row lock, read in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from egate.audit import AuditAction, AuditEntry, ChainHead, canonical_payload, seal
from egate.store.models import AuditHead, AuditRow

HEAD_ID = 1
_PAGE = 5_000  # records per query when streaming the chain
_INSERT = insert(cast(Table, AuditRow.__table__))
_HEAD = cast(Table, AuditHead.__table__)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
_LOCK_HEAD = _READ_HEAD.with_for_update()
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID)
_COLUMNS = (
    AuditRow.seq,
    AuditRow.at,
    AuditRow.actor,
    AuditRow.action,
    AuditRow.subject,
    AuditRow.payload,
    AuditRow.prev_hash,
    AuditRow.hash,
)


class AuditLog:
    """Appends to and reads the chain inside one session (one database transaction)."""

    def __init__(self, session: Session, clock: Callable[[], datetime]) -> None:
        self._session = session
        self._clock = clock
        self._head: ChainHead | None = None  # locked by this transaction once loaded

    def append(
        self, actor: str, action: AuditAction, subject: str, payload: Mapping[str, Any]
    ) -> AuditEntry:
        """Append one record after the current head. The first append of a transaction
        locks the head row until the transaction ends, so concurrent appenders queue
        behind it; later appends in the same transaction reuse the locked head."""
        head = self._head
        if head is None:
            row = self._session.execute(_LOCK_HEAD).one()
            head = ChainHead(row.seq, row.hash)
        entry = seal(
            head.seq + 1,
            self._clock(),
            actor,
            action.value,
            subject,
            canonical_payload(payload),
            head.hash,
        )
        # Prepared Core statements: no ORM bookkeeping or statement building per record.
        self._session.execute(_INSERT, dataclasses.asdict(entry))
        self._session.execute(_MOVE_HEAD, {"seq": entry.seq, "hash": entry.hash})
        self._head = ChainHead(entry.seq, entry.hash)
        return entry

    def head(self) -> ChainHead:
        if self._head is not None:
            return self._head
        row = self._session.execute(_READ_HEAD).one()
        return ChainHead(row.seq, row.hash)

    def entries(self, *, after: int = 0, until: int | None = None) -> Iterator[AuditEntry]:
        """Records with after < seq <= until, in sequence order, fetched a page at a time."""
        while True:
            # Plain column rows, not ORM objects: nothing accumulates in the session.
            query = select(*_COLUMNS).where(AuditRow.seq > after)
            if until is not None:
                query = query.where(AuditRow.seq <= until)
            rows = self._session.execute(query.order_by(AuditRow.seq).limit(_PAGE)).all()
            for row in rows:
                yield AuditEntry(*row)
            if len(rows) < _PAGE:
                return
            after = rows[-1].seq

    def for_subject(self, subject: str) -> list[AuditEntry]:
        rows = self._session.scalars(
            select(AuditRow).where(AuditRow.subject == subject).order_by(AuditRow.seq)
        )
        return [_entry(row) for row in rows]


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.seq, row.at, row.actor, row.action, row.subject, row.payload, row.prev_hash, row.hash
    )
