"""Database fixtures for the store tests: every test runs on a fresh SQLite file and,
when EGATE_TEST_DATABASE_URL is set, on a fresh PostgreSQL schema of its own
(dropped afterwards: other suites share that database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from egate.crypto import TemplateKeyring
from egate.store import Store

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))
KEYRING = TemplateKeyring.single("k1", KEY_1)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class TickingClock:
    """A clock that advances 1 ms per reading: deterministic, strictly increasing."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'egate.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    yield from _postgres_schema(base)


def _postgres_schema(base: str) -> Iterator[str]:
    schema = f"egate_store_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store with the test keyring and a deterministic clock."""
    s = Store(database_url, template_key=KEYRING, pepper=b"test pepper", clock=TickingClock())
    s.upgrade()
    yield s
    s.close()


def append_audit_records(url: str, worker: int, count: int) -> None:
    """Child-process body for the multi-writer test (module level: spawn pickles it)."""
    from egate.audit import AuditAction

    s = Store(url)
    try:
        for i in range(count):
            with s.unit_of_work() as uow:
                uow.audit.append(
                    f"worker-{worker}", AuditAction.WATCHLIST_LOAD, f"w{worker}", {"i": i}
                )
    finally:
        s.close()
