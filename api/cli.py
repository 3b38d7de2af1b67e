"""The `egate` command: one root group; each package contributes its own
subcommands through a `commands` list in its `cli` module (imports there stay
cheap: heavy work is imported inside each command)."""

from __future__ import annotations

import click

import biometrics.cli
import egate.cli
import sim.cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="egate")
def main() -> None:
    """e-Gate: biometric border-control gates, border checks and a hall simulator."""


for _module in (biometrics.cli, egate.cli, sim.cli):
    for _command in _module.commands:
        main.add_command(_command)
