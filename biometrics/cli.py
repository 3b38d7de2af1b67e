"""`egate` subcommands owned by `biometrics` (registered by `api.cli`)."""

from __future__ import annotations

import pathlib

import click

commands: list[click.Command] = []


@click.group()
def models() -> None:
    """The face-embedding model: dlib's ResNet exported to ONNX on this machine."""


@models.command("export")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Cache directory  [default: ~/.cache/egate/models]",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="dlib .dat weights  [default: face_recognition_models' ResNet]",
)
def export_model_command(dest: pathlib.Path | None, weights: pathlib.Path | None) -> None:
    """Build the ONNX model (or find it, cached by the weights' SHA-256); print its path."""
    from biometrics.dlib_format import DlibFormatError
    from biometrics.embedding import export_model

    try:
        click.echo(export_model(dest, weights=weights))
    except DlibFormatError as error:
        raise click.ClickException(f"{error.code}: {error}") from error


commands.append(models)
