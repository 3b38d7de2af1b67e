"""Gates and operators: who may call the API. Secrets are stored only as
HMAC-SHA256 digests under the server pepper (see `egate.crypto` for the choice);
a request is authenticated by one unique-index probe on the digest."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from egate.audit import AuditAction
from egate.crypto import SecretHasher, new_secret
from egate.store.audit_log import AuditLog
from egate.store.errors import AlreadyExists, NotFound
from egate.store.models import Gate, Operator, OperatorRoleRow
from egate.store.records import GateRecord, OperatorRecord, OperatorRole


class Gates:
    def __init__(
        self, session: Session, hasher: SecretHasher, audit: AuditLog, clock: Callable[[], datetime]
    ) -> None:
        self._session, self._hasher, self._audit, self._clock = session, hasher, audit, clock

    def register(self, gate_id: str, location: str, *, actor: str) -> str:
        """Register a gate; returns its API key (shown once, stored only as a digest)."""
        if self._session.get(Gate, gate_id) is not None:
            raise AlreadyExists("gate", gate_id)
        key = new_secret()
        self._session.add(
            Gate(
                id=gate_id,
                location=location,
                key_digest=self._hasher.digest(key),
                created_at=self._clock(),
            )
        )
        _flush_new(self._session, "gate", gate_id)
        self._audit.append(actor, AuditAction.GATE_REGISTER, gate_id, {"location": location})
        return key

    def rotate_key(self, gate_id: str, *, actor: str) -> str:
        """Replace the gate's key; the old one stops working at commit."""
        row = self._require(gate_id)
        key = new_secret()
        row.key_digest = self._hasher.digest(key)
        self._session.flush()
        self._audit.append(actor, AuditAction.GATE_KEY_ROTATE, gate_id, {})
        return key

    def disable(self, gate_id: str, *, actor: str) -> None:
        row = self._require(gate_id)
        row.disabled_at = self._clock()
        self._session.flush()
        self._audit.append(actor, AuditAction.GATE_DISABLE, gate_id, {})

    def authenticate(self, key: str) -> GateRecord | None:
        """The enabled gate holding `key`, or None."""
        row = self._session.scalar(select(Gate).where(Gate.key_digest == self._hasher.digest(key)))
        if row is None or row.disabled_at is not None:
            return None
        return _gate(row)

    def get(self, gate_id: str) -> GateRecord | None:
        row = self._session.get(Gate, gate_id)
        return None if row is None else _gate(row)

    def all(self) -> list[GateRecord]:
        return [_gate(row) for row in self._session.scalars(select(Gate).order_by(Gate.id))]

    def _require(self, gate_id: str) -> Gate:
        row = self._session.get(Gate, gate_id)
        if row is None:
            raise NotFound("gate", gate_id)
        return row


class Operators:
    def __init__(
        self, session: Session, hasher: SecretHasher, audit: AuditLog, clock: Callable[[], datetime]
    ) -> None:
        self._session, self._hasher, self._audit, self._clock = session, hasher, audit, clock

    def create(
        self,
        operator_id: str,
        roles: Iterable[OperatorRole],
        *,
        actor: str,
        token: str | None = None,
    ) -> str:
        """Create an operator; returns the token (a fresh random one unless `token` is
        given, e.g. the configured bootstrap admin token)."""
        if self._session.get(Operator, operator_id) is not None:
            raise AlreadyExists("operator", operator_id)
        token = token or new_secret()
        granted = sorted({r.value for r in roles})
        self._session.add(
            Operator(
                id=operator_id,
                token_digest=self._hasher.digest(token),
                created_at=self._clock(),
                roles=[OperatorRoleRow(role=r) for r in granted],
            )
        )
        _flush_new(self._session, "operator", operator_id)
        self._audit.append(actor, AuditAction.OPERATOR_CREATE, operator_id, {"roles": granted})
        return token

    def disable(self, operator_id: str, *, actor: str) -> None:
        row = self._session.get(Operator, operator_id)
        if row is None:
            raise NotFound("operator", operator_id)
        row.disabled_at = self._clock()
        self._session.flush()
        self._audit.append(actor, AuditAction.OPERATOR_DISABLE, operator_id, {})

    def authenticate(self, token: str) -> OperatorRecord | None:
        """The enabled operator holding `token`, or None."""
        row = self._session.scalar(
            select(Operator).where(Operator.token_digest == self._hasher.digest(token))
        )
        if row is None or row.disabled_at is not None:
            return None
        return _operator(row)

    def get(self, operator_id: str) -> OperatorRecord | None:
        row = self._session.get(Operator, operator_id)
        return None if row is None else _operator(row)


def _flush_new(session: Session, kind: str, ident: str) -> None:
    """Flush an insert; a concurrent insert of the same id (two API workers creating
    the bootstrap admin at start-up) surfaces as AlreadyExists, like a sequential one.
    The unit of work is then rolled back by the caller's exception."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(kind, ident) from exc


def _gate(row: Gate) -> GateRecord:
    return GateRecord(row.id, row.location, row.created_at, row.disabled_at)


def _operator(row: Operator) -> OperatorRecord:
    roles = frozenset(OperatorRole(r.role) for r in row.roles)
    return OperatorRecord(row.id, roles, row.created_at, row.disabled_at)
