"""Persistence for e-Gate: SQLAlchemy 2 models, Alembic migrations (in
`egate/migrations`), and a `Store` that hands out units of work.

    store = Store("sqlite:///var/egate.db", template_key=keyring)
    store.upgrade()
    with store.unit_of_work() as uow:      # one database transaction
        uow.transactions.save(record, actor=gate_id)   # audits the decision too
"""

from egate.store.engine import DEFAULT_URL
from egate.store.errors import (
    AlreadyExists,
    DocumentAlreadyEnrolled,
    IdempotencyConflict,
    InvalidQuery,
    NotFound,
    StoreError,
    TemplateKeyMissing,
    TransactionAlreadyDecided,
)
from egate.store.records import (
    DecisionCount,
    DocumentData,
    DocumentWatchEntry,
    Enrolment,
    GateRecord,
    IdempotentOutcome,
    ManifestData,
    ManifestRecord,
    OperatorRecord,
    OperatorRole,
    PersonWatchEntry,
    StoredResponse,
    StoredTemplate,
    TemplateData,
    TransactionQuery,
    TransactionRecord,
    TravellerData,
)
from egate.store.store import Store, UnitOfWork
from egate.store.transactions import new_transaction_id

__all__ = [
    "DEFAULT_URL",
    "AlreadyExists",
    "DecisionCount",
    "DocumentAlreadyEnrolled",
    "DocumentData",
    "DocumentWatchEntry",
    "Enrolment",
    "GateRecord",
    "IdempotencyConflict",
    "IdempotentOutcome",
    "InvalidQuery",
    "ManifestData",
    "ManifestRecord",
    "NotFound",
    "OperatorRecord",
    "OperatorRole",
    "PersonWatchEntry",
    "Store",
    "StoreError",
    "StoredResponse",
    "StoredTemplate",
    "TemplateData",
    "TemplateKeyMissing",
    "TransactionAlreadyDecided",
    "TransactionQuery",
    "TransactionRecord",
    "TravellerData",
    "UnitOfWork",
    "new_transaction_id",
]
