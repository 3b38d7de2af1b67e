"""Gates: registration by an admin, heartbeat and status.

Heartbeats are kept in the memory of the worker that received them: with several
workers, `GET /v1/gates` shows the latest heartbeat that worker saw.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.auth import AdminOperator, AnyPrincipal, GatePrincipal, PrincipalKind
from api.deps import ResourcesDep
from api.errors import ApiError
from api.resources import utc_now
from api.schemas.gates import GateCreate, GateCreated, GateStatus, Heartbeat
from egate.store import GateRecord, OperatorRole

router = APIRouter(prefix="/gates", tags=["gates"])

_heartbeats: dict[str, tuple[datetime, Heartbeat]] = {}


def _status(gate: GateRecord) -> GateStatus:
    seen = _heartbeats.get(gate.id)
    return GateStatus(
        id=gate.id,
        location=gate.location,
        created_at=gate.created_at,
        disabled=gate.disabled_at is not None,
        last_heartbeat=seen[0] if seen else None,
        hardware=seen[1] if seen else None,
    )


@router.post("", status_code=201, response_model=GateCreated)
async def register_gate(
    body: GateCreate, admin: AdminOperator, resources: ResourcesDep
) -> GateCreated:
    """Register a gate; the answer carries its key, which is stored only as a digest."""

    def register() -> str:
        with resources.store.unit_of_work() as uow:
            return uow.gates.register(body.id, body.location, actor=admin.id)

    key = await run_in_threadpool(register)
    return GateCreated(id=body.id, location=body.location, key=key)


@router.get("", response_model=list[GateStatus])
async def list_gates(admin: AdminOperator, resources: ResourcesDep) -> list[GateStatus]:
    def gates() -> list[GateRecord]:
        with resources.store.read() as uow:
            return uow.gates.all()

    return [_status(g) for g in await run_in_threadpool(gates)]


@router.delete("/{gate_id}", status_code=204, response_class=Response)
async def disable_gate(gate_id: str, admin: AdminOperator, resources: ResourcesDep) -> Response:
    """Disable a gate: its key is refused (within `EGATE_CREDENTIAL_CACHE_S` seconds on
    workers that verified it recently)."""

    def disable() -> None:
        with resources.store.unit_of_work() as uow:
            uow.gates.disable(gate_id, actor=admin.id)

    await run_in_threadpool(disable)
    return Response(status_code=204)


@router.post("/heartbeat", response_model=GateStatus)
async def heartbeat(body: Heartbeat, gate: GatePrincipal, resources: ResourcesDep) -> GateStatus:
    """The gate is alive; records its hardware state."""
    _heartbeats[gate.id] = (utc_now(), body)
    return await _get(resources, gate.id)


@router.get("/{gate_id}", response_model=GateStatus)
async def gate_status(gate_id: str, principal: AnyPrincipal, resources: ResourcesDep) -> GateStatus:
    """A gate may read its own status; an admin any gate's."""
    if principal.kind is PrincipalKind.GATE and principal.id != gate_id:
        raise ApiError(403, "forbidden", "a gate may only read its own status")
    if principal.kind is PrincipalKind.OPERATOR and OperatorRole.ADMIN not in principal.roles:
        raise ApiError(403, "forbidden", f"operator {principal.id} lacks role admin")
    return await _get(resources, gate_id)


async def _get(resources: ResourcesDep, gate_id: str) -> GateStatus:
    def get() -> GateRecord | None:
        with resources.store.read() as uow:
            return uow.gates.get(gate_id)

    gate = await run_in_threadpool(get)
    if gate is None:
        raise ApiError(404, "gate_not_found", f"no gate {gate_id}", {"id": gate_id})
    return _status(gate)
