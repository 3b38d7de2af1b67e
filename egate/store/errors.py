"""Errors raised by the store; each carries the offending value and a `code`."""

from __future__ import annotations

from egate import EgateError


class StoreError(EgateError):
    """Root of the errors raised by `egate.store`."""

    code = "store"


class NotFound(StoreError):
    """No row of this kind has this id."""

    code = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"no {kind} with id {ident!r}")
        self.kind = kind
        self.ident = ident


class AlreadyExists(StoreError):
    """A row with this id (or natural key) already exists."""

    code = "already_exists"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} already exists")
        self.kind = kind
        self.ident = ident


class DocumentAlreadyEnrolled(StoreError):
    """The document is already part of another enrolment."""

    code = "document_already_enrolled"

    def __init__(self, issuer: str, number: str, traveller_id: str) -> None:
        super().__init__(
            f"document {issuer} {number} is already enrolled (traveller {traveller_id})"
        )
        self.issuer = issuer
        self.number = number
        self.traveller_id = traveller_id


class TransactionAlreadyDecided(StoreError):
    """A decided transaction was saved again with another decision: decisions are final."""

    code = "transaction_already_decided"

    def __init__(self, transaction_id: str, stored: str, new: str | None) -> None:
        super().__init__(
            f"transaction {transaction_id} was decided {stored!r}; refusing to change it to {new!r}"
        )
        self.transaction_id = transaction_id
        self.stored = stored
        self.new = new


class IdempotencyConflict(StoreError):
    """The idempotency key was used before for a different request."""

    code = "idempotency_conflict"

    def __init__(self, scope: str, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} (scope {scope!r}) was already used for a different request"
        )
        self.scope = scope
        self.key = key


class TemplateKeyMissing(StoreError):
    """Templates were read or written by a store built without a template keyring."""

    code = "template_key_missing"

    def __init__(self) -> None:
        super().__init__("this store has no template keyring: pass Store(..., template_key=...)")


class InvalidQuery(StoreError):
    """A search was asked with impossible bounds."""

    code = "invalid_query"

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"{field}={value!r}: {reason}")
        self.field = field
        self.value = value
