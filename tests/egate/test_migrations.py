"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL,
and ship inside the package."""

from __future__ import annotations

import threading
from importlib import resources

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect
from store_fixtures import database_url

from egate.cli import db as db_cli
from egate.store import Store
from egate.store.models import Base

__all__ = ["database_url"]


def schema_diff(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(diff)


def test_migrations_produce_the_models_schema(database_url: str) -> None:
    store = Store(database_url)
    store.upgrade()
    store.upgrade()  # a second upgrade is a no-op
    store.close()
    assert schema_diff(database_url) == []


def test_workers_starting_together_migrate_once(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def start(store: Store) -> None:
        barrier.wait()
        try:
            store.upgrade()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for s in stores:
        s.close()
    assert errors == []
    assert schema_diff(database_url) == []


def test_downgrade_to_base_and_back(database_url: str) -> None:
    store = Store(database_url)
    store.upgrade()
    store.downgrade("base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    store.upgrade()
    with store.read() as r:
        assert r.audit.head().seq == 0
    store.close()
    assert schema_diff(database_url) == []


def test_cli_upgrade(database_url: str) -> None:
    result = CliRunner().invoke(db_cli, ["upgrade", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    assert "password" not in result.output
    assert schema_diff(database_url) == []


def test_migrations_ship_inside_the_package() -> None:
    root = resources.files("egate") / "migrations"
    assert (root / "env.py").is_file()
    assert (root / "script.py.mako").is_file()
    assert (root / "versions" / "0001_initial.py").is_file()
