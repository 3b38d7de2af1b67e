"""Idempotency records: the stored response of a request sent with an idempotency
key. The unique constraint on (scope, key) decides races between concurrent
requests with the same key; see `Store.run_idempotent`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from egate.store.models import IdempotencyRecord
from egate.store.records import StoredResponse

_PENDING = StoredResponse(0, "")


class Idempotency:
    def __init__(self, session: Session, clock: Callable[[], datetime]) -> None:
        self._session = session
        self._clock = clock

    def get(self, scope: str, key: str) -> tuple[str, StoredResponse] | None:
        """(request fingerprint, stored response) for this key, or None."""
        row = self._session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
        if row is None:
            return None
        return row.fingerprint, StoredResponse(row.status_code, row.body)

    def claim(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
        """Insert the record now (flushes: a concurrent claimer of the same key fails
        here with IntegrityError, before doing its work); fill it with `complete`."""
        row = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            status_code=_PENDING.status_code,
            body=_PENDING.body,
            created_at=self._clock(),
        )
        self._session.add(row)
        self._session.flush()
        return row

    def complete(self, row: IdempotencyRecord, response: StoredResponse) -> None:
        row.status_code, row.body = response.status_code, response.body
        self._session.flush()

    def purge(self, older_than: datetime) -> int:
        """Delete records created before `older_than`; returns how many."""
        result = self._session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < older_than)
        )
        return int(getattr(result, "rowcount", 0))
