"""Gate transactions: open with the document, submit live captures, read the decision,
close or abandon. A gate sees only its own transactions; operators with the audit
role may read and search all of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import crossings
from api.auth import AnyPrincipal, AuditOperator, GatePrincipal, Principal, PrincipalKind
from api.deps import ResourcesDep
from api.errors import ApiError
from api.idempotency import (
    IdempotencyKey,
    as_response,
    fingerprint,
    replay,
    run_once,
    stored_answer,
)
from api.limits import check_capture_count
from api.resources import Resources, utc_now
from api.schemas.transactions import (
    CaptureJson,
    CaptureResponse,
    CaptureResult,
    TransactionOpen,
    TransactionPublic,
)
from api.uploads import image_body, read_images
from biometrics import BiometricsError
from biometrics.pipeline import Capture
from egate import EgateError
from egate.chip import portrait_from_dg2
from egate.crossing import DocumentRead, Embeddings
from egate.gate import Decision, GateTransaction, ReferralReason
from egate.mrz import parse_mrz
from egate.store import (
    OperatorRole,
    StoredResponse,
    TransactionQuery,
    TransactionRecord,
    UnitOfWork,
    new_transaction_id,
)

router = APIRouter(prefix="/transactions", tags=["gate transactions"])


def _observe_decision(resources: Resources, txn: GateTransaction) -> None:
    if txn.outcome is None:
        return
    referral = txn.outcome.referral
    resources.metrics.decisions.labels(
        txn.outcome.decision.value, referral.reason.value if referral else "none"
    ).inc()


@router.post("", status_code=201, response_model=TransactionPublic)
async def open_transaction(
    body: TransactionOpen,
    gate: GatePrincipal,
    resources: ResourcesDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Open a transaction with what the document reader delivered; runs the document
    checks, screening and eligibility at once. The answer says whether to capture."""
    resources.limiter.check(gate.id)
    fp = fingerprint("open", body.model_dump_json().encode())
    stored = await replay(resources.store, gate.actor, idempotency_key, fp)
    if stored is not None:
        return stored
    document = parse_mrz(body.mrz, today=utc_now().date())
    portrait = await _portrait(resources, body)
    faces = crossings.PrecomputedFaces(portrait=portrait)
    # A reader that extracted the portrait itself sends it without the chip; the
    # crossing only needs to know a portrait exists (it asks `faces` for its embedding).
    read = DocumentRead(document, body.dg1, body.dg2 or body.portrait, body.sod)
    policy = resources.policy.current()
    transaction_id = new_transaction_id()
    decided: list[GateTransaction] = []

    def work(uow: UnitOfWork) -> StoredResponse:
        crossing = crossings.build_crossing(
            uow, policy, faces, resources.lists.current(), resources.csca, utc_now
        )
        opened = crossing.open(transaction_id, gate.id, read)
        uow.transactions.create(
            crossings.to_record(opened.transaction, opened.references, resources.keyring),
            actor=gate.id,
        )
        decided.append(opened.transaction)
        return StoredResponse(201, TransactionPublic.of(opened.transaction).model_dump_json())

    outcome = await run_once(resources.store, gate.actor, idempotency_key, fp, work)
    if decided and not outcome.replayed:
        _observe_decision(resources, decided[0])
    return as_response(outcome)


async def _portrait(resources: Resources, body: TransactionOpen) -> Capture | None:
    """The chip portrait through the pool; None when there is none or it cannot be
    decoded (the crossing then refers with CHIP_PORTRAIT_UNUSABLE)."""
    image = body.portrait
    if image is None and body.dg2 is not None:
        try:
            image = portrait_from_dg2(body.dg2)
        except EgateError:
            return None
    if image is None:
        return None
    try:
        return await resources.reference(image)
    except BiometricsError:
        return None


@router.post(
    "/{transaction_id}/captures",
    response_model=CaptureResponse,
    openapi_extra=image_body({"image": "live capture, JPEG or PNG"}, CaptureJson),
)
async def submit_capture(
    transaction_id: str,
    request: Request,
    gate: GatePrincipal,
    resources: ResourcesDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """One live capture: quality check, then 1:1 against the chip portrait or the
    enrolled template. A poor capture is not an error: it counts as an attempt and the
    answer lists what the traveller should change."""
    resources.limiter.check(gate.id)
    upload = await read_images(request, CaptureJson, ("image",))
    assert isinstance(upload, CaptureJson)
    fp = fingerprint(f"capture {transaction_id}", upload.image)

    def read() -> tuple[Response | None, TransactionRecord | None]:
        # A retry's stored answer and the transaction, over one connection.
        with resources.store.read() as uow:
            stored = stored_answer(uow, gate.actor, idempotency_key, fp)
            if stored is not None:
                return stored, None
            return None, uow.transactions.get(transaction_id)

    stored, found = await run_in_threadpool(read)
    if stored is not None:
        return stored
    record = _visible(found, transaction_id, gate)
    check_capture_count(record.attempts, resources.settings.max_captures_per_transaction)
    policy = resources.policy.current()
    txn, references = crossings.from_record(record, policy, resources.keyring)
    if txn.state.terminal:
        raise ApiError(
            409,
            "transaction_closed",
            f"transaction {transaction_id} is already {txn.state.value}",
            {"state": txn.state.value},
        )
    live = await resources.live(upload.image)
    resources.metrics.captures.labels("ok" if live.quality.ok else "poor_quality").inc()
    result: list[GateTransaction] = []

    def work(uow: UnitOfWork) -> StoredResponse:
        # Locks the row (PostgreSQL; SQLite serialises writers anyway): a second worker
        # with a capture for the same transaction waits here, then sees the change.
        current = uow.transactions.get(transaction_id, for_update=True)
        if (
            current is None
            or current.attempts != record.attempts
            or current.state is not record.state
        ):
            raise ApiError(
                409,
                "concurrent_update",
                f"transaction {transaction_id} changed while this capture was processed; retry",
            )
        watchlist = resources.gallery.watchlist(policy.match_threshold)
        faces = crossings.PrecomputedFaces(live=live, watchlist=watchlist)
        crossing = crossings.build_crossing(
            uow, policy, faces, resources.lists.current(), resources.csca, utc_now
        )
        crossing.capture(txn, upload.image, references)
        uow.transactions.save(
            crossings.to_record(txn, references, resources.keyring), actor=gate.id
        )
        result.append(txn)
        step = txn.steps[-1]
        body = CaptureResponse(
            capture=CaptureResult(
                quality_issues=list(live.quality.messages), distance=step.distance
            ),
            transaction=TransactionPublic.of(txn),
        )
        return StoredResponse(200, body.model_dump_json())

    outcome = await run_once(resources.store, gate.actor, idempotency_key, fp, work)
    if result and not outcome.replayed:
        _observe_decision(resources, result[0])
    return as_response(outcome)


@router.get("/{transaction_id}", response_model=TransactionPublic)
async def get_transaction(
    transaction_id: str, principal: AnyPrincipal, resources: ResourcesDep
) -> TransactionPublic:
    """The transaction with its decision and reasons (a past deadline ends it TIMED_OUT)."""
    record = await _load(resources, transaction_id, principal)
    txn, references = crossings.from_record(record, resources.policy.current(), resources.keyring)
    if txn.expire(utc_now()):
        await _save(resources, txn, references, principal)
        _observe_decision(resources, txn)
    return TransactionPublic.of(txn)


@router.post("/{transaction_id}/abandon", response_model=TransactionPublic)
async def abandon_transaction(
    transaction_id: str, gate: GatePrincipal, resources: ResourcesDep
) -> TransactionPublic:
    """The traveller left, or the gate gives up: the transaction ends ABANDONED.
    Abandoning an abandoned transaction again returns it unchanged."""
    record = await _load(resources, transaction_id, gate)
    txn, references = crossings.from_record(record, resources.policy.current(), resources.keyring)
    if txn.state.value == "abandoned":
        return TransactionPublic.of(txn)
    txn.abandon(utc_now())
    await _save(resources, txn, references, gate)
    _observe_decision(resources, txn)
    return TransactionPublic.of(txn)


@router.post("/{transaction_id}/close", response_model=TransactionPublic)
async def close_transaction(
    transaction_id: str, gate: GatePrincipal, resources: ResourcesDep
) -> TransactionPublic:
    """The gate is done with a decided transaction (door closed behind the traveller).
    A transaction still waiting for a decision must be finished or abandoned first."""
    record = await _load(resources, transaction_id, gate)
    txn, _ = crossings.from_record(record, resources.policy.current(), resources.keyring)
    if not txn.state.terminal:
        raise ApiError(
            409,
            "transaction_open",
            f"transaction {transaction_id} is still {txn.state.value}; capture or abandon it",
            {"state": txn.state.value},
        )
    return TransactionPublic.of(txn)


@router.get("", response_model=list[TransactionPublic])
async def search_transactions(
    operator: AuditOperator,
    resources: ResourcesDep,
    gate_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    decision: Decision | None = None,
    referral_reason: ReferralReason | None = None,
    document_issuer: Annotated[str | None, Query(max_length=3)] = None,
    document_number: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TransactionPublic]:
    """Newest first; filters combine with AND; times are a half-open range on opened_at."""
    query = TransactionQuery(
        gate_id=gate_id,
        start=start,
        end=end,
        decision=decision,
        referral_reason=referral_reason,
        document_issuer=document_issuer,
        document_number=document_number,
        limit=limit,
    )

    def search() -> list[TransactionRecord]:
        with resources.store.read() as uow:
            return uow.transactions.search(query)

    policy = resources.policy.current()
    rows = await run_in_threadpool(search)
    return [
        TransactionPublic.of(crossings.from_record(r, policy, resources.keyring)[0]) for r in rows
    ]


async def _load(
    resources: Resources, transaction_id: str, principal: Principal
) -> TransactionRecord:
    def get() -> TransactionRecord | None:
        with resources.store.read() as uow:
            return uow.transactions.get(transaction_id)

    return _visible(await run_in_threadpool(get), transaction_id, principal)


def _visible(
    record: TransactionRecord | None, transaction_id: str, principal: Principal
) -> TransactionRecord:
    """`record` if `principal` may see it (404 when missing, 403 when another gate's)."""
    if record is None:
        raise ApiError(
            404, "transaction_not_found", f"no transaction {transaction_id}", {"id": transaction_id}
        )
    if principal.kind is PrincipalKind.GATE and record.gate_id != principal.id:
        raise ApiError(403, "forbidden", f"transaction {transaction_id} belongs to another gate")
    readers = {OperatorRole.AUDIT, OperatorRole.ADMIN}
    if principal.kind is PrincipalKind.OPERATOR and not principal.roles & readers:
        raise ApiError(403, "forbidden", f"operator {principal.id} lacks role audit")
    return record


async def _save(
    resources: Resources, txn: GateTransaction, references: Embeddings, principal: Principal
) -> None:
    def save() -> None:
        with resources.store.unit_of_work() as uow:
            uow.transactions.save(
                crossings.to_record(txn, references, resources.keyring), actor=principal.id
            )

    await run_in_threadpool(save)
