"""The store: one object per process that owns the database engine and hands out
units of work (one database transaction each)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from egate.audit import AuditVerification, ChainHead, verify_chain
from egate.crypto import SecretHasher, TemplateKeyring
from egate.store.access import Gates, Operators
from egate.store.audit_log import AuditLog
from egate.store.engine import DEFAULT_URL, WRITE, make_engine
from egate.store.enrolments import Enrolments
from egate.store.errors import IdempotencyConflict
from egate.store.idempotency import Idempotency
from egate.store.records import IdempotentOutcome, StoredResponse
from egate.store.transactions import Transactions
from egate.store.watchlists import Manifests, Watchlists

if TYPE_CHECKING:
    from alembic.config import Config


_MIGRATION_LOCK = 0x65676174_65000001  # arbitrary 64-bit key: "egate" + 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class UnitOfWork:
    """Everything the store can read or write, bound to ONE database transaction.

    Repositories: `transactions`, `enrolments`, `gates`, `operators`, `idempotency`,
    `watchlists`, `manifests`, `audit`. Writes that must be audited append their
    audit record themselves, in the same transaction.
    """

    def __init__(
        self,
        session: Session,
        keyring: TemplateKeyring | None,
        hasher: SecretHasher,
        clock: Callable[[], datetime],
    ) -> None:
        self.session = session
        self.audit = AuditLog(session, clock)
        self.transactions = Transactions(session, self.audit)
        self.enrolments = Enrolments(session, keyring, self.audit, clock)
        self.gates = Gates(session, hasher, self.audit, clock)
        self.operators = Operators(session, hasher, self.audit, clock)
        self.idempotency = Idempotency(session, clock)
        self.watchlists = Watchlists(session, self.audit, clock)
        self.manifests = Manifests(session, self.audit, clock)


@dataclass(frozen=True)
class _Claim:
    scope: str
    key: str
    fingerprint: str


class Store:
    """Persistence for e-Gate.

    `url`: SQLAlchemy URL, `sqlite:///var/egate.db` by default, or
    `postgresql+psycopg://user@host/db`. `template_key`: the keyring that seals face
    templates (needed only to read or write templates). `pepper`: server secret for
    the gate-key and operator-token digests. `clock`: returns aware datetimes (tests
    pin it). `pool_size`: PostgreSQL connections kept open (see `make_engine`). Call
    `upgrade()` once to create or migrate the schema.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        template_key: TemplateKeyring | None = None,
        pepper: bytes = b"",
        clock: Callable[[], datetime] = utc_now,
        pool_size: int = 5,
    ) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, pool_size=pool_size)
        self._writer = self.engine.execution_options(**{WRITE: True})
        # PostgreSQL reads need no BEGIN/ROLLBACK round trips: READ COMMITTED gives each
        # statement its own snapshot anyway. SQLite keeps a transaction (one snapshot).
        self._reader = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self.engine
        )
        self._keyring = template_key
        self._hasher = SecretHasher(pepper)
        self._clock = clock

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations shipped in `egate/migrations` up to `revision`.

        Safe when several workers start at once: they take turns (a PostgreSQL advisory
        lock; SQLite's write lock), and those after the first find nothing to do.
        """
        from alembic import command

        with self._writer.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.upgrade(alembic_config(connection), revision)

    def downgrade(self, revision: str) -> None:
        """Run the migrations down to `revision` (`base` drops every table)."""
        from alembic import command

        with self._writer.begin() as connection:
            command.downgrade(alembic_config(connection), revision)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One write transaction: commits when the block ends, rolls back if it raises."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield UnitOfWork(session, self._keyring, self._hasher, self._clock)

    @contextmanager
    def read(self) -> Iterator[UnitOfWork]:
        """For reading only: one transaction and snapshot on SQLite (rolled back at the
        end); on PostgreSQL autocommit, each statement seeing what was committed when it
        started (what READ COMMITTED gives inside a transaction too). Write through
        `unit_of_work`."""
        with Session(self._reader) as session:
            yield UnitOfWork(session, self._keyring, self._hasher, self._clock)
            session.rollback()

    def run_idempotent(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        work: Callable[[UnitOfWork], StoredResponse],
    ) -> IdempotentOutcome:
        """Exactly once: run `work` and store its response under (scope, key), all in
        one transaction; a retry with the same key gets the stored response back.

        `fingerprint` identifies the request (e.g. SHA-256 of method, path, body); the
        same key with another fingerprint raises `IdempotencyConflict`. Of concurrent
        requests with one key, one commits; the others' work is rolled back and they
        return its response. Do slow computation before calling: `work` runs inside
        the database transaction.

        The claim is the first statement of the transaction, so a retry costs one
        failed insert (the unique key) and one read, and `work` never runs twice.
        """
        claim = _Claim(scope, key, fingerprint)
        try:
            with self.unit_of_work() as uow:
                record_id = uow.idempotency.claim(scope, key, fingerprint)
                response = work(uow)
                uow.idempotency.complete(record_id, response)
        except IntegrityError:
            stored = self._stored(claim)
            if stored is None:  # the violation was not about this key
                raise
            return stored
        return IdempotentOutcome(response, replayed=False)

    def verify_audit(self, *, anchor: ChainHead | None = None) -> AuditVerification:
        """Verify the whole audit chain against its stored head (and `anchor`, if given),
        reading one consistent snapshot."""
        with Session(self.engine) as session:
            if self.dialect == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            log = AuditLog(session, self._clock)
            head = log.head()
            result = verify_chain(log.entries(), head=head, anchor=anchor)
            session.rollback()
            return result

    def _stored(self, claim: _Claim) -> IdempotentOutcome | None:
        with self.read() as uow:
            found = uow.idempotency.get(claim.scope, claim.key)
        if found is None:
            return None
        fingerprint, response = found
        if fingerprint != claim.fingerprint:
            raise IdempotencyConflict(claim.scope, claim.key)
        return IdempotentOutcome(response, replayed=True)


def alembic_config(connection: object | None = None, url: str | None = None) -> Config:
    """An Alembic Config for the migrations inside the installed package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("egate") / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    config.attributes["connection"] = connection
    return config
