"""Initial schema: travellers, documents, encrypted templates, gates, operators,
transactions, idempotency records, watchlists, manifests and the audit chain.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:43:50.866416
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
GENESIS_HASH = "0" * 64

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # The chain starts empty: record 1 will link to 64 zeros.
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    op.create_table(
        "gates",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gates")),
        sa.UniqueConstraint("key_digest", name=op.f("uq_gates_key_digest")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_idempotency_records_scope_key")),
    )
    op.create_index("ix_idempotency_records_created_at", "idempotency_records", ["created_at"])
    op.create_table(
        "manifests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("carrier", sa.String(length=3), nullable=False),
        sa.Column("flight", sa.String(length=8), nullable=False),
        sa.Column("departure_airport", sa.String(length=3), nullable=False),
        sa.Column("arrival_airport", sa.String(length=3), nullable=False),
        sa.Column("departure_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrival_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("traveller_count", sa.Integer(), nullable=False),
        sa.Column("raw_edifact", sa.Text(), nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manifests")),
    )
    op.create_index("ix_manifests_flight", "manifests", ["carrier", "flight", "departure_time"])
    op.create_table(
        "operators",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_operators_token_digest")),
    )
    op.create_table(
        "travellers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("surname", sa.String(length=128), nullable=False),
        sa.Column("given_names", sa.String(length=128), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("nationality", sa.String(length=3), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travellers")),
    )
    op.create_table(
        "watchlist_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=3), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_documents")),
        sa.UniqueConstraint(
            "list_name",
            "issuer",
            "number",
            name=op.f("uq_watchlist_documents_list_name_issuer_number"),
        ),
    )
    op.create_table(
        "watchlist_persons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("surname", sa.String(length=128), nullable=False),
        sa.Column("given_names", sa.String(length=128), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(length=3), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_persons")),
    )
    op.create_index("ix_watchlist_persons_list_name", "watchlist_persons", ["list_name"])
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("traveller_id", sa.String(length=36), nullable=False),
        sa.Column("issuer", sa.String(length=3), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("document_code", sa.String(length=2), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["traveller_id"],
            ["travellers.id"],
            name=op.f("fk_documents_traveller_id_travellers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("issuer", "number", name=op.f("uq_documents_issuer_number")),
    )
    op.create_index("ix_documents_traveller_id", "documents", ["traveller_id"])
    op.create_table(
        "operator_roles",
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_roles_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("operator_id", "role", name=op.f("pk_operator_roles")),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("traveller_id", sa.String(length=36), nullable=False),
        sa.Column("embedder", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["traveller_id"],
            ["travellers.id"],
            name=op.f("fk_templates_traveller_id_travellers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
    )
    op.create_index("ix_templates_key_id", "templates", ["key_id"])
    op.create_index("ix_templates_traveller_id", "templates", ["traveller_id"])
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("referral_reason", sa.String(length=32), nullable=True),
        sa.Column("referral_detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("document_issuer", sa.String(length=3), nullable=True),
        sa.Column("document_number", sa.String(length=20), nullable=True),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("snapshot", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["gate_id"], ["gates.id"], name=op.f("fk_transactions_gate_id_gates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
    )
    op.create_index("ix_transactions_decision_opened", "transactions", ["decision", "opened_at"])
    op.create_index(
        "ix_transactions_document",
        "transactions",
        ["document_issuer", "document_number", "opened_at"],
    )
    op.create_index("ix_transactions_gate_opened", "transactions", ["gate_id", "opened_at"])
    op.create_index("ix_transactions_opened", "transactions", ["opened_at"])
    op.create_index(
        "ix_transactions_reason_opened", "transactions", ["referral_reason", "opened_at"]
    )


def downgrade() -> None:
    op.drop_table("transactions")
    op.drop_table("templates")
    op.drop_table("operator_roles")
    op.drop_table("documents")
    op.drop_table("watchlist_persons")
    op.drop_table("watchlist_documents")
    op.drop_table("travellers")
    op.drop_table("operators")
    op.drop_table("manifests")
    op.drop_table("idempotency_records")
    op.drop_table("gates")
    op.drop_table("audit_log")
    op.drop_table("audit_head")
