"""`egate` subcommands owned by `sim` (registered by `api.cli`)."""

from __future__ import annotations

import click

commands: list[click.Command] = []
