"""Gate transactions: create, save (insert or update), read, search, hourly decision
counts.

Saving a transaction that carries a decision for the first time appends the
DECISION audit record in the same database transaction; a decision, once stored,
is final.

The per-request paths (create, get, save) are plain Core statements on the table:
every gate request goes through them, and the ORM's identity map and flush
bookkeeping cost more CPU than the statements. Search stays with the ORM.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from egate.audit import AuditAction
from egate.gate import Decision, ReferralReason, State
from egate.store.audit_log import AuditLog
from egate.store.errors import InvalidQuery, TransactionAlreadyDecided
from egate.store.models import Transaction
from egate.store.records import DecisionCount, TransactionQuery, TransactionRecord

MAX_PAGE = 1000
_TABLE = cast(Table, Transaction.__table__)
_INSERT = insert(_TABLE)
_SELECT = select(_TABLE)
_DECISION = select(_TABLE.c.decision)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))


def new_transaction_id() -> str:
    """A time-ordered UUID (version 7, RFC 9562): new rows land at the right edge of
    the primary-key index instead of at random pages, which keeps inserts fast at
    10^7 rows."""
    millis = time.time_ns() // 1_000_000
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Transactions:
    def __init__(self, session: Session, audit: AuditLog) -> None:
        self._session = session
        self._audit = audit
        # Decisions of the rows this unit of work holds locked (`get(for_update=True)`):
        # saving one of them needs no second read of its previous decision.
        self._locked: dict[str, str | None] = {}

    def create(self, record: TransactionRecord, *, actor: str) -> None:
        """Insert the new transaction `record.id` (IntegrityError if it exists)."""
        self._session.execute(_INSERT, _values(record))
        self._audit_decision(record, None, actor)

    def save(self, record: TransactionRecord, *, actor: str) -> None:
        """Insert or update the transaction `record.id`."""
        if record.id in self._locked:
            previous = self._locked[record.id]
            exists = True
        else:
            row = self._session.execute(_DECISION.where(_TABLE.c.id == record.id)).first()
            exists = row is not None
            previous = row.decision if row is not None else None
        if not exists:
            self.create(record, actor=actor)
            return
        new = record.decision.value if record.decision else None
        if previous is not None and previous != new:
            raise TransactionAlreadyDecided(record.id, previous, new)
        values = _values(record)
        values["row_id"] = values.pop("id")
        self._session.execute(_UPDATE, values)
        if record.id in self._locked:
            self._locked[record.id] = new
        self._audit_decision(record, previous, actor)

    def _audit_decision(self, record: TransactionRecord, previous: str | None, actor: str) -> None:
        if record.decision is None or previous is not None:
            return
        self._audit.append(
            actor,
            AuditAction.DECISION,
            record.id,
            {
                "gate_id": record.gate_id,
                "decision": record.decision.value,
                "reason": record.referral_reason.value if record.referral_reason else None,
                "attempts": record.attempts,
                "state": record.state.value,
            },
        )

    def get(self, transaction_id: str, *, for_update: bool = False) -> TransactionRecord | None:
        """The stored transaction. `for_update=True` locks its row until the unit of work
        ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite write transactions are already
        exclusive), so two workers advancing one transaction take turns and the second
        sees the first's save. Use it inside `unit_of_work()` / `run_idempotent` work."""
        query = _SELECT.where(_TABLE.c.id == transaction_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            return None
        if for_update:
            self._locked[transaction_id] = row.decision
        return _record(row)

    def search(self, query: TransactionQuery) -> list[TransactionRecord]:
        """Newest first, at most `query.limit` (<= 1000) rows; see `TransactionQuery`."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise InvalidQuery("limit", query.limit, f"must be 1..{MAX_PAGE}")
        if query.start and query.end and query.start >= query.end:
            raise InvalidQuery("end", query.end, "must be after start")
        stmt = select(Transaction).where(*_filters(query))
        stmt = stmt.order_by(Transaction.opened_at.desc(), Transaction.id.desc())
        return [_record(row) for row in self._session.scalars(stmt.limit(query.limit))]

    def count_by_hour(self, start: datetime, end: datetime) -> list[DecisionCount]:
        """Decision counts per UTC hour of `opened_at` in [start, end), hour then decision."""
        if start >= end:
            raise InvalidQuery("end", end, "must be after start")
        dialect = self._session.get_bind().dialect.name
        col = Transaction.opened_at
        bucket: ColumnElement[object] = (
            func.date_trunc("hour", func.timezone("UTC", col))
            if dialect == "postgresql"
            else func.strftime("%Y-%m-%d %H:00:00", col)
        )
        stmt = (
            select(bucket.label("hour"), Transaction.decision, func.count())
            .where(col >= start, col < end)
            .group_by(bucket, Transaction.decision)
            .order_by(bucket, Transaction.decision)
        )
        return [
            DecisionCount(_hour(hour), Decision(decision) if decision else None, count)
            for hour, decision, count in self._session.execute(stmt)
        ]


def _filters(query: TransactionQuery) -> Sequence[ColumnElement[bool]]:
    t = Transaction
    conditions: list[ColumnElement[bool]] = []
    if query.gate_id is not None:
        conditions.append(t.gate_id == query.gate_id)
    if query.start is not None:
        conditions.append(t.opened_at >= query.start)
    if query.end is not None:
        conditions.append(t.opened_at < query.end)
    if query.decision is not None:
        conditions.append(t.decision == query.decision.value)
    if query.referral_reason is not None:
        conditions.append(t.referral_reason == query.referral_reason.value)
    if query.document_issuer is not None:
        conditions.append(t.document_issuer == query.document_issuer)
    if query.document_number is not None:
        conditions.append(t.document_number == query.document_number)
    if query.before is not None:
        at, ident = query.before
        conditions.append(or_(t.opened_at < at, and_(t.opened_at == at, t.id < ident)))
    return conditions


def _hour(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _values(record: TransactionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "gate_id": record.gate_id,
        "opened_at": record.opened_at,
        "closed_at": record.closed_at,
        "state": record.state.value,
        "decision": record.decision.value if record.decision else None,
        "referral_reason": record.referral_reason.value if record.referral_reason else None,
        "referral_detail": record.referral_detail,
        "attempts": record.attempts,
        "document_issuer": record.document_issuer,
        "document_number": record.document_number,
        "steps": list(record.steps),
        "snapshot": record.snapshot,
    }


def _record(row: Transaction | Row[Any]) -> TransactionRecord:
    return TransactionRecord(
        id=row.id,
        gate_id=row.gate_id,
        opened_at=row.opened_at,
        state=State(row.state),
        attempts=row.attempts,
        steps=list(row.steps),
        closed_at=row.closed_at,
        decision=Decision(row.decision) if row.decision else None,
        referral_reason=ReferralReason(row.referral_reason) if row.referral_reason else None,
        referral_detail=row.referral_detail,
        document_issuer=row.document_issuer,
        document_number=row.document_number,
        snapshot=row.snapshot,
    )
