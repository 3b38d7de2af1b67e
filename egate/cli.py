"""`egate` subcommands owned by `egate` (registered by `api.cli`): the database
schema and the audit trail. Heavy imports stay inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from egate.audit import AuditVerification

DEFAULT_URL = "sqlite:///var/egate.db"

_database_url = click.option(
    "--database-url",
    envvar="EGATE_DATABASE_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="SQLAlchemy URL of the database (env EGATE_DATABASE_URL).",
)


@click.group("db")
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@_database_url
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def db_upgrade(database_url: str, revision: str) -> None:
    """Create or migrate the schema to REVISION."""
    from egate.store import Store

    store = Store(database_url)
    try:
        store.upgrade(revision)
    finally:
        store.close()
    click.echo(f"database at {revision}: {_redacted(database_url)}")


@click.group("audit")
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@_database_url
@click.option("--anchor", help="SEQ:HASH printed earlier by `egate audit head`.")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an export (JSON lines) instead of the database.",
)
def audit_verify(database_url: str, anchor: str | None, path: Path | None) -> None:
    """Check every record's hash and link; exit status 1 names the first bad record."""
    from egate.audit import ChainHead, read_jsonl, verify_chain

    try:
        pinned = ChainHead.parse(anchor) if anchor else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--anchor") from exc
    if path is not None:
        with path.open(encoding="utf-8") as stream:
            result = verify_chain(read_jsonl(stream), anchor=pinned)
    else:
        from egate.store import Store

        store = Store(database_url)
        try:
            result = store.verify_audit(anchor=pinned)
        finally:
            store.close()
    _report(result)


@audit.command("export")
@_database_url
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option(
    "--after",
    type=int,
    default=0,
    show_default=True,
    help="Export only records with a larger sequence number.",
)
def audit_export(database_url: str, output: Path | None, after: int) -> None:
    """Write the audit records as JSON lines, in sequence order."""
    from egate.audit import write_jsonl
    from egate.store import Store

    store = Store(database_url)
    try:
        with store.read() as uow:
            if output is None:
                count = write_jsonl(uow.audit.entries(after=after), sys.stdout)
            else:
                with output.open("w", encoding="utf-8") as stream:
                    count = write_jsonl(uow.audit.entries(after=after), stream)
    finally:
        store.close()
    click.echo(f"exported {count} audit records", err=True)


@audit.command("head")
@_database_url
def audit_head(database_url: str) -> None:
    """Print the chain head as SEQ:HASH, to keep outside the database as an anchor."""
    from egate.store import Store

    store = Store(database_url)
    try:
        with store.read() as uow:
            click.echo(str(uow.audit.head()))
    finally:
        store.close()


def _report(result: AuditVerification) -> None:
    if result.ok:
        click.echo(f"audit chain ok: {result.records} records, head {result.head}")
        return
    problem = result.problem.value if result.problem else "unknown"
    click.echo(
        f"audit chain BROKEN at record {result.first_bad_seq} ({problem}): {result.detail}",
        err=True,
    )
    sys.exit(1)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


commands: list[click.Command] = [db, audit]
