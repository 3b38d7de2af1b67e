"""The tables (SQLAlchemy 2 declarative). The Alembic migrations in
`egate/migrations/versions` must produce exactly this schema (a test compares them).

Enum-valued columns are plain strings holding the enum's value, so adding a value
(a new referral reason) needs no migration. Every time is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations can refer to them on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps naive text (fixed width, so range comparisons work on the text);
    PostgreSQL keeps `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Traveller(Base):
    __tablename__ = "travellers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    surname: Mapped[str] = mapped_column(String(128))
    given_names: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date] = mapped_column(Date)
    nationality: Mapped[str] = mapped_column(String(3))
    sex: Mapped[str] = mapped_column(String(1))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    documents: Mapped[list[Document]] = relationship(
        back_populates="traveller",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Document.id",
    )
    templates: Mapped[list[Template]] = relationship(
        back_populates="traveller",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Template.id",
    )


class Document(Base):
    """A travel document of an enrolled traveller; (issuer, number) finds the enrolment."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("issuer", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    traveller_id: Mapped[str] = mapped_column(
        ForeignKey("travellers.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(3))
    number: Mapped[str] = mapped_column(String(20))
    document_code: Mapped[str] = mapped_column(String(2))
    expiry_date: Mapped[date] = mapped_column(Date)

    traveller: Mapped[Traveller] = relationship(back_populates="documents")


class Template(Base):
    """A face template, only ever as AES-GCM ciphertext (see `egate.crypto`)."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    traveller_id: Mapped[str] = mapped_column(
        ForeignKey("travellers.id", ondelete="CASCADE"), index=True
    )
    embedder: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    traveller: Mapped[Traveller] = relationship(back_populates="templates")


class Gate(Base):
    __tablename__ = "gates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(128))
    # HMAC-SHA256(pepper, key): the lookup key of every gate request.
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    roles: Mapped[list[OperatorRoleRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class OperatorRoleRow(Base):
    __tablename__ = "operator_roles"

    operator_id: Mapped[str] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Transaction(Base):
    """One gate transaction. Indexes serve the operator's searches at 10^7 rows: each
    leads with the filter column and ends with `opened_at`, so a filtered, time-ordered
    page is an index range scan."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_gate_opened", "gate_id", "opened_at"),
        Index("ix_transactions_document", "document_issuer", "document_number", "opened_at"),
        Index("ix_transactions_decision_opened", "decision", "opened_at"),
        Index("ix_transactions_reason_opened", "referral_reason", "opened_at"),
        Index("ix_transactions_opened", "opened_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    state: Mapped[str] = mapped_column(String(24))
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    referral_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    referral_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    document_issuer: Mapped[str | None] = mapped_column(String(3), nullable=True)
    document_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    steps: Mapped[Any] = mapped_column(Json)
    # The gate's own snapshot to resume an open transaction between requests.
    snapshot: Mapped[Any | None] = mapped_column(Json, nullable=True)


class IdempotencyRecord(Base):
    """The stored response of a request made with an idempotency key, per scope."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class WatchlistDocument(Base):
    """A lost or stolen travel document (SLTD)."""

    __tablename__ = "watchlist_documents"
    __table_args__ = (UniqueConstraint("list_name", "issuer", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_name: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(3))
    number: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WatchlistPerson(Base):
    __tablename__ = "watchlist_persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_name: Mapped[str] = mapped_column(String(64), index=True)
    surname: Mapped[str] = mapped_column(String(128))
    given_names: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    nationality: Mapped[str | None] = mapped_column(String(3), nullable=True)
    reason: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ManifestRow(Base):
    """A PAXLST manifest as received (raw EDIFACT) plus its parsed summary."""

    __tablename__ = "manifests"
    __table_args__ = (Index("ix_manifests_flight", "carrier", "flight", "departure_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(3))
    flight: Mapped[str] = mapped_column(String(8))
    departure_airport: Mapped[str] = mapped_column(String(3))
    arrival_airport: Mapped[str] = mapped_column(String(3))
    departure_time: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    arrival_time: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    traveller_count: Mapped[int] = mapped_column(Integer)
    raw_edifact: Mapped[str] = mapped_column(Text)
    summary: Mapped[Any] = mapped_column(Json)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row (id 1) naming the chain's last record. Appenders lock it
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite writers hold the database lock),
    which serialises appends across processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
