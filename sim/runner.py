"""Replications of a scenario, in this process or in local worker processes, and the
output folder: per-traveller records, KPIs (JSON), plots and the HTML report.

Replication `k` always draws from the streams of `(seed, k)`, so results do not depend
on how replications are spread over processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sim.hall import simulate
from sim.kpis import RunKpis, Summary, json_ready, run_kpis, summarise
from sim.records import Records, verify_records, write_records
from sim.scenario import Scenario


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    kpis: tuple[RunKpis, ...]
    summary: Summary
    records: tuple[Records, ...]  # empty when not kept


def kpis_of(scenario: Scenario, records: Records) -> RunKpis:
    """The KPIs of one replication, with the scenario's service levels and warm-up, after
    checking conservation and Little's law on its records (`verify_records`)."""
    verify_records(records)
    limits = {q: scenario.service_level(q).max_wait_s for q in scenario.queues}
    return run_kpis(records, scenario.queues, limits, warmup_s=scenario.warmup_s)


def replicate(scenario: Scenario, replication: int) -> tuple[RunKpis, Records]:
    records = simulate(scenario, replication)
    return kpis_of(scenario, records), records


def replicate_kpis(scenario: Scenario, replication: int) -> RunKpis:
    """One replication's KPIs only (what a worker process sends back)."""
    return kpis_of(scenario, simulate(scenario, replication))


def run_scenario(
    scenario: Scenario,
    *,
    replications: int | None = None,
    workers: int = 1,
    keep_records: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Run `replications` (default: the scenario's) replications; `workers` > 1 spreads them
    over local processes. `on_progress(fraction)` reports progress from 0 to 1."""
    n = replications or scenario.replications
    kpis: list[RunKpis] = []
    records: list[Records] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            if keep_records:
                futures = [pool.submit(replicate, scenario, k) for k in range(n)]
                for k, f in enumerate(futures):
                    kp, rec = f.result()
                    kpis.append(kp)
                    records.append(rec)
                    if on_progress:
                        on_progress((k + 1) / n)
            else:
                for k, kp in enumerate(pool.map(replicate_kpis, [scenario] * n, range(n))):
                    kpis.append(kp)
                    if on_progress:
                        on_progress((k + 1) / n)
    else:
        last_hour = 26.0
        for k in range(n):

            def tick(now_s: float, k: int = k) -> None:
                if on_progress:
                    on_progress((k + min(now_s / 3600.0 / last_hour, 1.0)) / n)

            rec = simulate(scenario, k, progress=tick if on_progress else None)
            kpis.append(kpis_of(scenario, rec))
            if keep_records:
                records.append(rec)
            if on_progress:
                on_progress((k + 1) / n)
    return RunResult(scenario, tuple(kpis), summarise(kpis), tuple(records))


def write_outputs(
    result: RunResult, out: Path, *, records_format: str = "parquet"
) -> dict[str, Path]:
    """Write the output folder: `records.parquet` (or .csv), `kpis.json`, `queue_length.png`,
    `waiting_times.png`, `report.html`; returns the paths by name."""
    from sim.report import plot_queue_lengths, plot_waiting_times, write_report

    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if result.records:
        paths["records"] = write_records(list(result.records), out / f"records.{records_format}")
    kpis = {
        "scenario": result.scenario.name,
        "seed": result.scenario.seed,
        "summary": result.summary.as_json(),
        "replications": [json_ready(k) for k in result.kpis],
    }
    paths["kpis"] = out / "kpis.json"
    paths["kpis"].write_text(json.dumps(kpis, indent=1, allow_nan=False), encoding="utf-8")
    if result.records:
        paths["queue_length"] = plot_queue_lengths(
            result.records[0], result.scenario, out / "queue_length.png"
        )
        paths["waiting_times"] = plot_waiting_times(
            list(result.records), result.scenario, out / "waiting_times.png"
        )
    paths["report"] = write_report(result, paths, out / "report.html")
    return paths
