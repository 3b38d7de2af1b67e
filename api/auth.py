"""Who is calling: a gate (its own key in `X-Gate-Key`) or an operator (a bearer
token with roles). Keys and tokens are checked against their digests in the store.

Every failure is 401 (no or unknown credentials) or 403 (known, but not allowed);
an unreadable credential is treated as unknown, never as a server error.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.deps import ResourcesDep
from api.errors import ApiError
from api.resources import Resources
from egate.store import GateRecord, OperatorRecord, OperatorRole

gate_key_header = APIKeyHeader(
    name="X-Gate-Key", auto_error=False, description="the gate's own key"
)
bearer = HTTPBearer(auto_error=False, description="operator token")

# Credentials are server-generated URL-safe strings; anything much longer is not one.
_MAX_CREDENTIAL = 256


class PrincipalKind(enum.Enum):
    GATE = "gate"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: str
    roles: frozenset[OperatorRole] = frozenset()

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"{self.kind.value}:{self.id}"


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _usable(secret: str | None) -> str | None:
    if not secret or len(secret) > _MAX_CREDENTIAL or not secret.isascii():
        return None
    return secret


# The dependencies below are coroutines: FastAPI runs a plain `def` dependency in its
# thread pool, a hand-off that costs more than a cached key look-up. Only what reads
# the database goes to the pool.


async def _gate(resources: Resources, gate_key: str) -> Principal:
    key = _usable(gate_key)
    if key is None:
        raise _unauthorized("unknown or disabled gate key")
    cached = resources.gate_keys.get(key)
    if cached is not None:
        return cached

    def lookup() -> GateRecord | None:
        with resources.store.read() as uow:
            return uow.gates.authenticate(key)

    gate = await run_in_threadpool(lookup)
    if gate is None:
        raise _unauthorized("unknown or disabled gate key")
    principal = Principal(PrincipalKind.GATE, gate.id)
    resources.gate_keys.put(key, principal)
    return principal


async def _operator(resources: Resources, token: HTTPAuthorizationCredentials) -> Principal:
    secret = _usable(token.credentials)
    if secret is None:
        raise _unauthorized("unknown or disabled operator token")

    def lookup() -> OperatorRecord | None:
        with resources.store.read() as uow:
            return uow.operators.authenticate(secret)

    operator = await run_in_threadpool(lookup)
    if operator is None:
        raise _unauthorized("unknown or disabled operator token")
    return Principal(PrincipalKind.OPERATOR, operator.id, operator.roles)


async def authenticate(
    resources: ResourcesDep,
    gate_key: Annotated[str | None, Depends(gate_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from whichever credential it sent (a gate key wins if both)."""
    if gate_key is not None:
        return await _gate(resources, gate_key)
    if token is not None:
        return await _operator(resources, token)
    raise _unauthorized("send a gate key (X-Gate-Key) or an operator token (Authorization: Bearer)")


AnyPrincipal = Annotated[Principal, Depends(authenticate)]


async def require_gate(
    request: Request,
    resources: ResourcesDep,
    gate_key: Annotated[str | None, Depends(gate_key_header)],
) -> Principal:
    if gate_key is None:
        if "authorization" in request.headers:
            raise ApiError(403, "forbidden", "this endpoint is for gates (X-Gate-Key)")
        raise _unauthorized("send the gate key (X-Gate-Key)")
    return await _gate(resources, gate_key)


def require_role(role: OperatorRole) -> Callable[..., Awaitable[Principal]]:
    """An operator holding `role` (admin holds every role)."""

    async def check(
        request: Request,
        resources: ResourcesDep,
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if token is None:
            if "x-gate-key" in request.headers:
                raise ApiError(
                    403, "forbidden", f"this endpoint is for operators with role {role.value}"
                )
            raise _unauthorized("send an operator token (Authorization: Bearer)")
        principal = await _operator(resources, token)
        if role not in principal.roles and OperatorRole.ADMIN not in principal.roles:
            raise ApiError(
                403,
                "forbidden",
                f"operator {principal.id} lacks role {role.value}",
                {"required": role.value, "roles": sorted(r.value for r in principal.roles)},
            )
        return principal

    return check


GatePrincipal = Annotated[Principal, Depends(require_gate)]
EnrolOperator = Annotated[Principal, Depends(require_role(OperatorRole.ENROL))]
WatchlistOperator = Annotated[Principal, Depends(require_role(OperatorRole.WATCHLIST))]
AuditOperator = Annotated[Principal, Depends(require_role(OperatorRole.AUDIT))]
AdminOperator = Annotated[Principal, Depends(require_role(OperatorRole.ADMIN))]
