"""`egate` subcommands owned by `sim` (registered by `api.cli`): `egate sim run`,
`egate sim sweep` and the top-level `egate demo`. Heavy imports stay inside the
commands so that `egate --help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _load(scenario: str, overrides: tuple[str, ...]) -> Any:
    import yaml

    from sim.scenario import BUILTIN, builtin_path, load_scenario

    values = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--set")
        values[key] = yaml.safe_load(raw)
    path = (
        builtin_path(scenario)
        if scenario in BUILTIN and not Path(scenario).exists()
        else Path(scenario)
    )
    return load_scenario(path, values)


def _run(scenario: Any, out: Path | None, replications: int | None, workers: int, fmt: str) -> None:
    from tqdm import tqdm

    from sim.report import summary_table
    from sim.runner import run_scenario, write_outputs

    n = replications or scenario.replications
    with tqdm(total=100, desc=f"simulating {scenario.name} x{n}", unit="%", leave=False) as bar:

        def progress(fraction: float) -> None:
            bar.update(round(fraction * 100) - bar.n)

        result = run_scenario(scenario, replications=n, workers=workers, on_progress=progress)
    click.echo(summary_table(result.summary, scenario))
    if out is not None:
        paths = write_outputs(result, out, records_format=fmt)
        click.echo(f"\noutputs in {out}/: " + ", ".join(p.name for p in paths.values()))


def _fail(exc: Exception) -> None:
    code = getattr(exc, "code", "error")
    raise click.ClickException(f"[{code}] {exc}")


@click.group("sim")
def sim_group() -> None:
    """Border hall simulator: replay passenger queues through e-gates and desks."""


@sim_group.command("run")
@click.argument("scenario")
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("sim-out"),
    show_default=True,
    help="Output folder (records, kpis.json, plots, report.html).",
)
@click.option(
    "--replications", "-r", type=click.IntRange(min=1), help="Override the scenario's count."
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local processes to spread replications over (results are identical).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario value by dotted path, e.g. egates.gates=30.",
)
@click.option(
    "--records", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
def run_command(
    scenario: str,
    out: Path,
    replications: int | None,
    workers: int,
    overrides: tuple[str, ...],
    fmt: str,
) -> None:
    """Simulate SCENARIO (a YAML/TOML file, or a built-in: demo, mmc) and write its outputs."""
    from sim import SimError

    try:
        _run(_load(scenario, overrides), out, replications, workers, fmt)
    except SimError as exc:
        _fail(exc)


@sim_group.command("sweep")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), default=Path("sweep-out"), show_default=True
)
@click.option(
    "--scheduler", help="Dask scheduler address (tcp://host:port); default: local processes."
)
@click.option(
    "--workers", "-w", type=click.IntRange(min=1), help="Local processes (default: CPU count)."
)
@click.option(
    "--dask-local", is_flag=True, help="Run on a Dask LocalCluster of --workers processes."
)
def sweep_command(
    spec: Path, out: Path, scheduler: str | None, workers: int | None, dask_local: bool
) -> None:
    """Run the cross product of SPEC's parameters x replications and recommend a staffing."""
    from sim import SimError
    from sim.sweep import Backend, load_sweep, recommendation_table, run_sweep, write_sweep

    try:
        sweep = load_sweep(spec)
        backend = Backend.DASK if (scheduler or dask_local) else Backend.PROCESSES
        click.echo(
            f"{len(sweep.points)} points x {sweep.replications} replications = {sweep.runs} runs"
        )
        from tqdm import tqdm

        with tqdm(total=sweep.runs, desc="sweep", unit="run", leave=False) as bar:
            result = run_sweep(
                sweep,
                backend=backend,
                scheduler=scheduler,
                workers=workers,
                on_done=lambda: bar.update(1),
            )
        paths = write_sweep(result, out)
        click.echo(recommendation_table(result))
        click.echo(f"\noutputs in {out}/: " + ", ".join(p.name for p in paths.values()))
    except SimError as exc:
        _fail(exc)


@click.command("demo")
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the output folder (records, KPIs, plots, HTML report).",
)
@click.option("--replications", "-r", type=click.IntRange(min=1), help="Default: 5.")
def demo_command(out: Path | None, replications: int | None) -> None:
    """Simulate a peak day at a large airport (300 flights, ~100,000 travellers) and print KPIs."""
    from sim import SimError

    try:
        scenario = _load("demo", ())
        e = scenario.egates
        click.echo(
            f"Peak day: 300 flights, {e.gates} e-gates in {len(e.banks)} banks, "
            f"{scenario.desks.queues[0].roster.peak} desks, threshold {e.policy.match_threshold}, "
            f"{replications or scenario.replications} replications (seed {scenario.seed})"
        )
        _run(scenario, out, replications, 1, "parquet")
    except SimError as exc:
        _fail(exc)


commands: list[click.Command] = [sim_group, demo_command]
