"""Engines for SQLite (embedded default) and PostgreSQL.

SQLite: WAL journal (readers never block the writer), foreign keys on, and every
write transaction opened with BEGIN IMMEDIATE. A deferred transaction that reads
and then writes cannot wait for another writer (SQLite answers "database is
locked" at once); IMMEDIATE takes the write lock up front, where `busy_timeout`
makes it queue. That serialises audit appends across processes.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

DEFAULT_URL = "sqlite:///var/egate.db"
WRITE = "egate_write"  # execution option: this connection will write
# Connections a PostgreSQL engine may open beyond its pool, each for one use.
MAX_OVERFLOW = 10
_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """The engine for `url`; SQLite files get their parent directory created.

    `pool_size`: server connections kept open (PostgreSQL). Size it to the process's
    concurrent database work: a connection beyond the pool (up to 10 more) is opened
    for one use and closed again, and on PostgreSQL that costs a backend start (a fork
    and authentication) plus unprepared statements each time."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url, pool_pre_ping=True, pool_size=pool_size, max_overflow=MAX_OVERFLOW
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Take transaction control from the sqlite3 module: we issue BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys = ON")
    # FULL: a committed gate decision survives power loss (NORMAL may lose the last ones).
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _enable_wal(cursor: Any) -> None:
    # Switching a file to WAL needs an exclusive lock and SQLite answers "database is
    # locked" at once instead of running the busy handler, so workers opening a new file
    # together retry (seen: 7 of 30 starts of 4 workers). WAL then persists in the file.
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class ConnectionBudgetExceeded(Exception):
    """The processes about to start could open more PostgreSQL connections than the server
    accepts; under load the excess would fail with "too many clients" mid-request."""


def check_connection_budget(url: str, processes: int, pool_size: int) -> None:
    """Raise ConnectionBudgetExceeded when `processes` engines of `pool_size` (plus
    MAX_OVERFLOW each) could exceed the server's max_connections less its slots reserved
    for superusers. SQLite has no such limit. Connects once; connection errors propagate."""
    if make_url(url).get_backend_name() == "sqlite":
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            limit = int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(
                connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one()
            )
    finally:
        engine.dispose()
    need = processes * (pool_size + MAX_OVERFLOW)
    if need > limit - reserved:
        raise ConnectionBudgetExceeded(
            f"{processes} worker(s) x ({pool_size} pooled + {MAX_OVERFLOW} overflow) = {need}"
            f" PostgreSQL connections, but the server accepts {limit - reserved}"
            f" (max_connections {limit} - superuser_reserved_connections {reserved});"
            " lower --workers or EGATE_DATABASE_POOL_SIZE, or raise max_connections"
        )
