"""Idempotency records: the stored response of a request sent with an idempotency
key. The unique constraint on (scope, key) decides races between concurrent
requests with the same key; see `Store.run_idempotent`.

Plain Core statements: each request of a gate touches this table once or twice, and
the ORM's unit-of-work bookkeeping cost more than the statements themselves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from egate.store.models import IdempotencyRecord
from egate.store.records import StoredResponse

_PENDING = StoredResponse(0, "")
_TABLE = cast(Table, IdempotencyRecord.__table__)
_GET = select(_TABLE.c.fingerprint, _TABLE.c.status_code, _TABLE.c.body)
_CLAIM = insert(_TABLE).returning(_TABLE.c.id)
_COMPLETE = update(_TABLE)


class Idempotency:
    def __init__(self, session: Session, clock: Callable[[], datetime]) -> None:
        self._session = session
        self._clock = clock

    def get(self, scope: str, key: str) -> tuple[str, StoredResponse] | None:
        """(request fingerprint, stored response) for this key, or None."""
        row = self._session.execute(
            _GET.where(_TABLE.c.scope == scope, _TABLE.c.key == key)
        ).first()
        if row is None:
            return None
        return row.fingerprint, StoredResponse(row.status_code, row.body)

    def claim(self, scope: str, key: str, fingerprint: str) -> int:
        """Insert the record now and return its id (a concurrent claimer of the same key
        fails here with IntegrityError, before doing its work); fill it with `complete`."""
        return int(
            self._session.execute(
                _CLAIM,
                {
                    "scope": scope,
                    "key": key,
                    "fingerprint": fingerprint,
                    "status_code": _PENDING.status_code,
                    "body": _PENDING.body,
                    "created_at": self._clock(),
                },
            ).scalar_one()
        )

    def complete(self, record_id: int, response: StoredResponse) -> None:
        self._session.execute(
            _COMPLETE.where(_TABLE.c.id == record_id).values(
                status_code=response.status_code, body=response.body
            )
        )

    def purge(self, older_than: datetime) -> int:
        """Delete records created before `older_than`; returns how many."""
        result = self._session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < older_than)
        )
        return int(getattr(result, "rowcount", 0))
