"""Sweeps: the cross product of scenario parameters x replications, run in local
processes (default), on a Dask cluster, or serially; all three give identical results
because run `(point, k)` always uses the streams of `(seed, k)` (common random
numbers across points: every point sees the same travellers).

A sweep file (YAML/TOML):

    scenario: demo                  # built-in name, or a path relative to this file
    replications: 3
    parameters:                     # dotted scenario paths -> values to try
      egates.gates: [30, 40, 50]
      desks.staff: [30, 40]
      egates.threshold: [0.5, 0.6]
    resources: [egates.gates, desks.staff]   # what the recommendation minimises (default:
                                             # the parameters ending in .gates or .staff)
    plot: egates.gates              # x axis of the service-level plot (default: first)
"""

from __future__ import annotations

import enum
import importlib
import itertools
import json
import math
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import SimError
from sim.kpis import RunKpis, Summary, json_ready, summarise
from sim.runner import replicate_kpis
from sim.scenario import (
    BUILTIN,
    InvalidValue,
    Scenario,
    ScenarioError,
    apply_overrides,
    builtin_path,
    parse_scenario,
    read_mapping,
)


class Backend(enum.Enum):
    SERIAL = "serial"  # this process, one run after another
    PROCESSES = "processes"  # a local process pool
    DASK = "dask"  # a Dask cluster: LocalCluster, or a scheduler address


@dataclass(frozen=True)
class Sweep:
    name: str
    parameters: Mapping[str, tuple[Any, ...]]
    points: tuple[Mapping[str, Any], ...]
    scenarios: tuple[Scenario, ...]
    replications: int
    resources: tuple[str, ...]
    plot: str

    @property
    def runs(self) -> int:
        return len(self.points) * self.replications


def make_sweep(
    base: Mapping[str, Any],
    base_dir: Path,
    parameters: Mapping[str, Sequence[Any]],
    *,
    replications: int = 3,
    resources: Sequence[str] | None = None,
    plot: str | None = None,
    name: str = "sweep",
) -> Sweep:
    """Every point of the cross product of `parameters`, validated up front."""
    if not parameters:
        raise InvalidValue("parameters", parameters, "a sweep needs at least one parameter")
    for key, values in parameters.items():
        if not isinstance(values, list | tuple) or not values:
            raise InvalidValue(f"parameters.{key}", values, "must be a non-empty list of values")
    keys = list(parameters)
    points = tuple(
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*parameters.values())
    )
    scenarios = []
    for point in points:
        try:
            scenarios.append(parse_scenario(apply_overrides(base, point), base_dir))
        except ScenarioError as exc:
            raise type(exc)(exc.path, exc.value, f"{exc.reason} (sweep point {point})") from None
    chosen = (
        tuple(resources)
        if resources is not None
        else tuple(k for k in keys if k.endswith((".gates", ".staff")))
    )
    for key in (*chosen, *([plot] if plot else [])):
        if key not in parameters:
            raise InvalidValue(
                "resources/plot", key, f"not a swept parameter; parameters are {keys}"
            )
    return Sweep(
        name,
        {k: tuple(v) for k, v in parameters.items()},
        points,
        tuple(scenarios),
        replications,
        chosen,
        plot or keys[0],
    )


SWEEP_KEYS = ("scenario", "replications", "parameters", "resources", "plot", "name")


def load_sweep(path: Path) -> Sweep:
    """Read a sweep file (see the module docstring)."""
    data = read_mapping(path)
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        from sim.scenario import UnknownKey

        raise UnknownKey(unknown[0], data[unknown[0]], f"unknown key; a sweep has {SWEEP_KEYS}")
    ref = data.get("scenario", "demo")
    if not isinstance(ref, str):
        raise InvalidValue("scenario", ref, "must be a built-in name or a file path")
    scenario_path = path.parent / ref
    if not scenario_path.exists() and ref in BUILTIN:
        scenario_path = builtin_path(ref)
    reps = data.get("replications", 3)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise InvalidValue("replications", reps, "must be an integer >= 1")
    params = data.get("parameters")
    if not isinstance(params, dict):
        raise InvalidValue(
            "parameters", params, "must map dotted scenario paths to lists of values"
        )
    return make_sweep(
        read_mapping(scenario_path),
        scenario_path.parent,
        params,
        replications=reps,
        resources=data.get("resources"),
        plot=data.get("plot"),
        name=str(data.get("name", path.stem)),
    )


def local_cluster(workers: int) -> Any:
    """A Dask LocalCluster of `workers` single-threaded worker processes on loopback, set up
    for simulation tasks.

    Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536. Setting that variable at
    all turns off glibc's dynamic mmap threshold, so every numpy array over 128 KiB a
    replication allocates is mmapped and unmapped again: measured, 200 M/M/c replications
    spent 27.4 s of CPU in the workers against 22.4 s in one process. Leaving it unset gives
    the same CPU as one process. Workers of an external scheduler (`--scheduler`) take their
    environment from whoever started them.

    The monitors Dask runs on each worker's event loop (event-loop tick every 20 ms, a
    statistical profiler every 10 ms, memory every 100 ms, system every 500 ms) take the GIL
    from the simulation; at the rates below they cost the two workers 0.8-1.0 s of CPU in a
    200-run sweep instead of 2.2-3.4 s (and the scheduler's process 0.3 s instead of 1 s).
    """
    dask: Any = importlib.import_module("dask")
    distributed: Any = importlib.import_module("distributed")
    settings = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "5s",
        "distributed.worker.memory.monitor-interval": "1s",
        "distributed.worker.profile.enabled": False,
    }
    with dask.config.set(settings):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            preload=["sim.runner"],  # imported as each worker starts, not by its first task
        )


def _task(scenario: Scenario, replication: int) -> RunKpis:
    return replicate_kpis(scenario, replication)


def _dask_task(scenario: Scenario, replications: tuple[int, ...]) -> bytes:
    """Several replications of one point, returned pickled: a worker's event loop shares the
    GIL with the simulation, and Dask's per-task messages and its serialisation of nested
    dataclasses cost it more than one pickle of the list (measured: 1.64x -> 1.80x over one
    process for 200 M/M/c runs on 2 workers)."""
    return pickle.dumps([replicate_kpis(scenario, k) for k in replications], protocol=5)


def _dask_chunks(replications: int, runs: int, threads: int) -> list[tuple[int, ...]]:
    """Split one point's replications into chunks so that every worker thread still gets
    about 20 tasks (the last ones finishing unevenly cost at most a 20th of the run)."""
    size = max(1, min(replications, runs // (20 * max(threads, 1))))
    return [tuple(range(j, min(j + size, replications))) for j in range(0, replications, size)]


@dataclass(frozen=True)
class SweepResult:
    sweep: Sweep
    kpis: tuple[tuple[RunKpis, ...], ...]  # [point][replication]
    summaries: tuple[Summary, ...]


def run_sweep(
    sweep: Sweep,
    *,
    backend: Backend = Backend.PROCESSES,
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> SweepResult:
    """Run every (point, replication); `scheduler` is a Dask address (tcp://host:port),
    otherwise Backend.DASK starts a LocalCluster of `workers` (default 2) processes."""
    tasks = [(p, k) for p in range(len(sweep.points)) for k in range(sweep.replications)]
    results: dict[tuple[int, int], RunKpis] = {}
    done = on_done or (lambda: None)
    if backend is Backend.SERIAL:
        for p, k in tasks:
            results[(p, k)] = _task(sweep.scenarios[p], k)
            done()
    elif backend is Backend.PROCESSES:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            futures = {pool.submit(_task, sweep.scenarios[p], k): (p, k) for p, k in tasks}
            for f in as_completed(futures):
                results[futures[f]] = f.result()
                done()
    else:
        results = _run_dask(sweep, scheduler, workers or 2, done)
    kpis = tuple(
        tuple(results[(p, k)] for k in range(sweep.replications)) for p in range(len(sweep.points))
    )
    return SweepResult(sweep, kpis, tuple(summarise(list(runs)) for runs in kpis))


def _run_dask(
    sweep: Sweep,
    scheduler: str | None,
    workers: int,
    done: Callable[[], None],
) -> dict[tuple[int, int], RunKpis]:
    # distributed is only partly typed: use it as Any rather than scatter ignores.
    distributed: Any = importlib.import_module("distributed")

    cluster = None
    try:
        if scheduler:
            client = distributed.Client(scheduler)
        else:
            cluster = local_cluster(workers)
            client = distributed.Client(cluster)
    except OSError as exc:
        raise SweepError(scheduler or "LocalCluster", str(exc)) from None
    try:
        scenarios = client.scatter(list(sweep.scenarios), broadcast=True)
        chunks = _dask_chunks(sweep.replications, sweep.runs, sum(client.nthreads().values()))
        futures = {
            client.submit(_dask_task, scenarios[p], ks, pure=False): (p, ks)
            for p in range(len(sweep.points))
            for ks in chunks
        }
        results = {}
        for f in distributed.as_completed(futures):
            p, ks = futures[f]
            for k, kpis in zip(ks, pickle.loads(f.result()), strict=True):
                results[(p, k)] = kpis
                done()
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class SweepError(SimError):
    code = "sweep_failed"

    def __init__(self, where: str, reason: str) -> None:
        self.value = where
        super().__init__(f"{where}: {reason}")


# -- what the planner reads ----------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """For one combination of the non-resource parameters, per hour: the cheapest point
    (fewest resources in total, then fewest of the first resource) meeting every queue's
    service level in that hour, or None when no swept point does."""

    context: Mapping[str, Any]
    by_hour: Mapping[int, Mapping[str, Any] | None]


def _group_points(sweep: Sweep, keys: Sequence[str]) -> list[tuple[tuple[Any, ...], list[int]]]:
    """Point indices grouped by their values of `keys`, in order of first appearance
    (values may be lists, e.g. rosters, so they are grouped by their JSON form)."""
    groups: dict[str, tuple[tuple[Any, ...], list[int]]] = {}
    for i, p in enumerate(sweep.points):
        values = tuple(p[k] for k in keys)
        groups.setdefault(json.dumps(values, default=str), (values, []))[1].append(i)
    return list(groups.values())


def recommend(result: SweepResult) -> list[Recommendation]:
    sweep = result.sweep
    others = [k for k in sweep.parameters if k not in sweep.resources]
    hours = len(next(iter(result.summaries[0].within_sl_by_hour.values())))
    out = []
    for ctx, idx in _group_points(sweep, others):
        by_hour: dict[int, Mapping[str, Any] | None] = {}
        for h in range(hours):
            active = any(
                result.summaries[i].within_sl_by_hour[q][h].n > 0
                for i in idx
                for q in result.summaries[i].within_sl_by_hour
            )
            if not active:
                continue
            feasible = [i for i in idx if _meets(result, i, h)]
            best = min(
                feasible,
                key=lambda i: (
                    sum(sweep.points[i][r] for r in sweep.resources),
                    [sweep.points[i][r] for r in sweep.resources],
                ),
                default=None,
            )
            by_hour[h] = (
                None if best is None else {r: sweep.points[best][r] for r in sweep.resources}
            )
        out.append(Recommendation(dict(zip(others, ctx, strict=True)), by_hour))
    return out


def _meets(result: SweepResult, i: int, hour: int) -> bool:
    summary, scenario = result.summaries[i], result.sweep.scenarios[i]
    for q, series in summary.within_sl_by_hour.items():
        e = series[hour]
        if e.n > 0 and not math.isnan(e.mean) and e.mean < scenario.service_level(q).share:
            return False
    return True


def recommendation_table(result: SweepResult) -> str:
    lines = []
    resources = result.sweep.resources or ("(no resource parameters)",)
    for rec in recommend(result):
        ctx = ", ".join(f"{k}={v}" for k, v in rec.context.items()) or "all points"
        lines.append(f"Fewest {' + '.join(resources)} meeting every service level, {ctx}:")
        for h, best in rec.by_hour.items():
            cell = (
                "none of the swept points"
                if best is None
                else ", ".join(f"{k}={v}" for k, v in best.items())
            )
            lines.append(f"  {h:02d}:00  {cell}")
    return "\n".join(lines)


def plot_service_level(result: SweepResult, path: Path) -> Path:
    """Share within the service level (mean and 95% CI) per queue against the plot parameter,
    one line per combination of the other parameters."""
    from sim.report import _pyplot

    plt = _pyplot()
    sweep = result.sweep
    queues = list(result.summaries[0].queues)
    fig, axes = plt.subplots(1, len(queues), figsize=(5 * len(queues), 4), squeeze=False)
    others = [k for k in sweep.parameters if k != sweep.plot]
    groups = _group_points(sweep, others)
    for ax, q in zip(axes[0], queues, strict=True):
        for ctx, idx in groups:
            xs = [_x(sweep, sweep.points[i][sweep.plot]) for i in idx]
            est = [result.summaries[i].queues[q]["within_sl"] for i in idx]
            label = (
                ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, ctx, strict=True)) or q
            )
            # Shares live in [0, 100]: clip the interval (with few replications the t
            # interval can reach past either end).
            mean = [e.mean * 100 for e in est]
            low = [max(0.0, e.low * 100) if e.n > 1 else m for e, m in zip(est, mean, strict=True)]
            high = [
                min(100.0, e.high * 100) if e.n > 1 else m for e, m in zip(est, mean, strict=True)
            ]
            yerr = [
                [m - lo for m, lo in zip(mean, low, strict=True)],
                [hi - m for m, hi in zip(mean, high, strict=True)],
            ]
            ax.errorbar(xs, mean, yerr=yerr, marker="o", capsize=3, label=label)
        ax.axhline(sweep.scenarios[0].service_level(q).share * 100, linestyle=":", color="grey")
        ax.set_title(q)
        ax.set_xlabel(sweep.plot)
        if not _numeric(sweep):  # rosters and other lists: one tick per value
            values = sweep.parameters[sweep.plot]
            ax.set_xticks(range(len(values)), [str(v) for v in values], fontsize=6)
        ax.set_ylabel("within service level (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        if len(groups) > 1 and len(groups) <= 8:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _numeric(sweep: Sweep) -> bool:
    return all(isinstance(v, int | float) for v in sweep.parameters[sweep.plot])


def _x(sweep: Sweep, value: Any) -> float:
    if _numeric(sweep):
        return float(value)
    return float([json.dumps(v) for v in sweep.parameters[sweep.plot]].index(json.dumps(value)))


def write_sweep(result: SweepResult, out: Path) -> dict[str, Path]:
    """`sweep.json` (every point's parameters and KPI summary, the recommendation) and
    `service_level.png`."""
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "name": result.sweep.name,
        "replications": result.sweep.replications,
        "points": [
            {"parameters": dict(p), "summary": s.as_json()}
            for p, s in zip(result.sweep.points, result.summaries, strict=True)
        ],
        "recommendation": [
            json_ready({"context": dict(r.context), "by_hour": dict(r.by_hour)})
            for r in recommend(result)
        ],
    }
    paths = {"sweep": out / "sweep.json"}
    paths["sweep"].write_text(
        json.dumps(json_ready(data), indent=1, allow_nan=False), encoding="utf-8"
    )
    paths["service_level"] = plot_service_level(result, out / "service_level.png")
    return paths
