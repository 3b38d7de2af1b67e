"""The `egate` command: one root group; each package contributes its own
subcommands through a `commands` list in its `cli` module (imports there stay
cheap: heavy work is imported inside each command)."""

from __future__ import annotations

import os

import click

import biometrics.cli
import egate.cli
import sim.cli
from biometrics import runtime


class _Root(click.Group):
    """The root group. It notes whether the command line only asks for a command's help,
    which needs no settings: the subcommand's --help is read after the root's callback."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        options = rest[: rest.index("--")] if "--" in rest else rest
        ctx.meta[_HELP_ONLY] = any(arg in ctx.help_option_names for arg in options)
        return name, command, rest


_HELP_ONLY = "egate.help_only"


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="egate")
@click.pass_context
def main(ctx: click.Context) -> None:
    """e-Gate: biometric border-control gates, border checks and a hall simulator."""
    if ctx.meta.get(_HELP_ONLY):
        return
    try:
        runtime.amx_asked()  # a bad EGATE_ONNX_AMX stops every command before it starts
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


for _module in (biometrics.cli, egate.cli, sim.cli):
    for _command in _module.commands:
        main.add_command(_command)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port (0 = any free).")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes."
)
@click.option("--log-level", default="warning", show_default=True)
def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Run the gate API service (settings from EGATE_* environment variables)."""
    import uvicorn
    from pydantic import ValidationError

    from api.settings import Settings

    try:
        settings = Settings()  # fail here, with a readable message, before any worker starts
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    from sqlalchemy.exc import OperationalError

    from egate.store.engine import ConnectionBudgetExceeded, check_connection_budget

    try:
        check_connection_budget(settings.database_url, workers, settings.database_pool_size)
    except ConnectionBudgetExceeded as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:  # the database may come up later; /readyz reports it
        click.echo(f"warning: could not check the database's connection limit: {exc}", err=True)
    if settings.migrate_on_start:
        # Migrate once here: several workers migrating one database at once would race.
        from egate.store import Store

        store = Store(settings.database_url)
        store.upgrade()
        store.close()
        os.environ["EGATE_MIGRATE_ON_START"] = "false"
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
