"""Exactly-once writes for client retries (`Idempotency-Key` header).

The request's fingerprint is a SHA-256 over the route and the request's meaningful
content (for an image: its bytes, not the multipart framing, which a client may
re-generate on retry). The store runs the write and saves the answer in one database
transaction; a retry gets the stored answer with `Idempotent-Replayed: true`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from egate.store import IdempotentOutcome, Store, StoredResponse, UnitOfWork

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[!-~]{1,128}$",
        description="client-chosen key (1 to 128 visible ASCII characters); a retry with the "
        "same key gets the first answer and writes nothing twice",
    ),
]


def fingerprint(route: str, *parts: bytes) -> str:
    h = hashlib.sha256(route.encode())
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _checked(key: str) -> str:
    if not 1 <= len(key) <= 128 or not key.isascii() or not key.isprintable():
        raise ApiError(
            422,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 128 printable ASCII characters",
            {"length": len(key)},
        )
    return key


async def replay(store: Store, scope: str, key: str | None, fp: str) -> Response | None:
    """The stored answer of an earlier request with this key, if any (before any work)."""
    if key is None:
        return None  # no key, no trip to the database

    def lookup() -> Response | None:
        with store.read() as uow:
            return stored_answer(uow, scope, key, fp)

    return await run_in_threadpool(lookup)


def stored_answer(uow: UnitOfWork, scope: str, key: str | None, fp: str) -> Response | None:
    """`replay` inside a read the caller already holds (to share its round trip to the
    database with the other reads of the request)."""
    if key is None:
        return None
    key = _checked(key)
    found = uow.idempotency.get(scope, key)
    if found is None:
        return None
    stored_fp, response = found
    if stored_fp != fp:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"Idempotency-Key {key!r} was already used for a different request",
            {"key": key},
        )
    return as_response(IdempotentOutcome(response, replayed=True))


async def run_once(
    store: Store,
    scope: str,
    key: str | None,
    fp: str,
    work: Callable[[UnitOfWork], StoredResponse],
) -> IdempotentOutcome:
    """Run `work` in one database transaction, exactly once per (scope, key)."""
    if key is None:

        def plain() -> IdempotentOutcome:
            with store.unit_of_work() as uow:
                return IdempotentOutcome(work(uow), replayed=False)

        return await run_in_threadpool(plain)
    checked = _checked(key)
    return await run_in_threadpool(store.run_idempotent, scope, checked, fp, work)


def as_response(outcome: IdempotentOutcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(
        outcome.response.body,
        status_code=outcome.response.status_code,
        media_type="application/json",
        headers=headers,
    )
