"""KPIs of a replication and their confidence intervals over replications.

Per queue: throughput per hour, waiting time p50/p95/p99/max and mean, the share
within the service level (overall and per hour), queue length over time (mean,
max), utilisation. Per hall: referral rate by reason, time over capacity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import stdtrit  # scipy.stats costs ~1 s to import in every worker

from sim.egates import GateOutcome
from sim.records import Records
from sim.travellers import FloatArray

HOUR_S = 3600.0
# Hourly series stop after 31 days; anything later counts in the last hour (a run that
# long is a mistake in the arrivals, and it must not allocate an array per hour of it).
MAX_HOURS = 31 * 24


@dataclass(frozen=True)
class QueueKpis:
    """One queue in one replication. Times in seconds; `*_by_hour` indexed by the hour
    (from midnight) in which the traveller reached the hall or, for throughput, left service."""

    served: int
    wait_mean_s: float
    wait_p50_s: float
    wait_p95_s: float
    wait_p99_s: float
    wait_max_s: float
    within_sl: float
    utilisation: float
    length_mean: float
    length_max: int
    throughput_by_hour: tuple[int, ...]
    length_by_hour: tuple[float, ...]
    within_sl_by_hour: tuple[float, ...]


@dataclass(frozen=True)
class RunKpis:
    replication: int
    travellers: int
    queues: Mapping[str, QueueKpis]
    referral_rate: Mapping[str, float]  # share of e-gate users referred, by reason
    over_capacity_s: float
    time_in_hall_p95_s: float


def _queue_parts(r: Records, queue: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    join, start, end = _queue_columns(r, queue)
    mask = _visited(r, queue)
    return join[mask], start[mask], end[mask]


def _queue_columns(r: Records, queue: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    if queue == "egates":
        return r.gate_join_s, r.gate_start_s, r.gate_end_s
    if queue == "secondary":
        return r.secondary_join_s, r.secondary_start_s, r.secondary_end_s
    return r.desk_join_s, r.desk_start_s, r.desk_end_s


def _visited(r: Records, queue: str) -> npt.NDArray[np.bool_]:
    if queue == "egates":
        return ~np.isnan(r.gate_join_s)
    if queue == "secondary":
        return ~np.isnan(r.secondary_join_s)
    return np.asarray(r.desk_queue == r.desk_names.index(queue), dtype=bool)


def queue_kpis(
    r: Records, queue: str, *, max_wait_s: float, warmup_s: float = 0.0, hours: int = 24
) -> QueueKpis:
    """KPIs of `queue` (`egates`, a desk queue name, `secondary`) in `r`; waits of travellers
    who arrived before `warmup_s` are left out. Hourly service levels group travellers by
    the hour they reached the hall (the hour of demand a staffing plan must meet)."""
    join, start, end = _queue_parts(r, queue)
    arrival = r.travellers.arrival_s[_visited(r, queue)]
    keep = arrival >= warmup_s
    wait = (start - join)[keep]
    # Clip in float before the cast: an absurd horizon (a tiny arrival rate) must not overflow.
    hour = np.minimum(arrival[keep] // HOUR_S, hours - 1).astype(np.int64)
    ok = wait <= max_wait_s
    per_hour = np.bincount(hour, minlength=hours)
    ok_hour = np.bincount(hour, weights=ok, minlength=hours)
    sl_hour = np.where(per_hour > 0, ok_hour / np.maximum(per_hour, 1), np.nan)
    out_hour = np.minimum(end // HOUR_S, hours - 1).astype(np.int64)
    log = r.logs[queue]
    available = r.capacity[queue].server_seconds(r.end_s)
    q = np.percentile(wait, [50, 95, 99]) if len(wait) else [math.nan] * 3
    return QueueKpis(
        served=len(join),
        wait_mean_s=float(wait.mean()) if len(wait) else math.nan,
        wait_p50_s=float(q[0]),
        wait_p95_s=float(q[1]),
        wait_p99_s=float(q[2]),
        wait_max_s=float(wait.max()) if len(wait) else math.nan,
        within_sl=float(ok.mean()) if len(wait) else math.nan,
        utilisation=float((end - start).sum() / available) if available > 0 else math.nan,
        length_mean=log.area(r.end_s) / r.end_s if r.end_s > 0 else 0.0,
        length_max=int(log.lengths.max()),
        throughput_by_hour=tuple(int(x) for x in np.bincount(out_hour, minlength=hours)),
        length_by_hour=tuple(log.mean_by_hour(hours)),
        within_sl_by_hour=tuple(float(x) for x in sl_hour),
    )


def run_kpis(
    r: Records,
    queues: Sequence[str],
    max_wait_s: Mapping[str, float],
    *,
    warmup_s: float = 0.0,
) -> RunKpis:
    """Every KPI of one replication; `max_wait_s` is each queue's service-level wait."""
    hours = min(max(24, int(r.end_s // HOUR_S) + 1), MAX_HOURS)
    used = r.gate_outcome >= 0
    users = max(int(used.sum()), 1)
    referral = {
        o.name.lower(): float(np.sum(r.gate_outcome == o) / users)
        for o in GateOutcome
        if o is not GateOutcome.ACCEPT
    }
    over = r.logs["overflow"]
    spans = np.diff(np.append(over.times_s, r.end_s))
    in_hall = (r.exit_s - r.travellers.arrival_s)[r.travellers.arrival_s >= warmup_s]
    return RunKpis(
        replication=r.replication,
        travellers=len(r),
        queues={
            q: queue_kpis(r, q, max_wait_s=max_wait_s[q], warmup_s=warmup_s, hours=hours)
            for q in queues
        },
        referral_rate=referral,
        over_capacity_s=float(np.sum(spans[over.lengths > 0])),
        time_in_hall_p95_s=float(np.percentile(in_hall, 95)) if len(in_hall) else math.nan,
    )


@dataclass(frozen=True)
class Estimate:
    """Mean over replications with a two-sided Student-t confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def estimate(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean of `values` (NaNs ignored) and its t confidence interval at `confidence`."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if len(x) == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stdtrit(len(x) - 1, (1 + confidence) / 2) * x.std(ddof=1) / math.sqrt(len(x)))
    return Estimate(mean, mean - half, mean + half, len(x))


SCALARS = (
    "served",
    "wait_mean_s",
    "wait_p50_s",
    "wait_p95_s",
    "wait_p99_s",
    "wait_max_s",
    "within_sl",
    "utilisation",
    "length_mean",
    "length_max",
)


@dataclass(frozen=True)
class Summary:
    """KPIs over replications: per queue and metric an `Estimate`, hourly means, hall-wide."""

    replications: int
    queues: Mapping[str, Mapping[str, Estimate]]
    throughput_by_hour: Mapping[str, tuple[Estimate, ...]]
    length_by_hour: Mapping[str, tuple[Estimate, ...]]
    within_sl_by_hour: Mapping[str, tuple[Estimate, ...]]
    referral_rate: Mapping[str, Estimate]
    over_capacity_s: Estimate
    time_in_hall_p95_s: Estimate

    def as_json(self) -> dict[str, object]:
        return json_ready(self)  # type: ignore[return-value]


def json_ready(value: object) -> object:
    """Dataclasses, mappings and sequences as plain JSON values; NaN becomes null."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): json_ready(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(x) for x in value]
    return value


def summarise(runs: Sequence[RunKpis], confidence: float = 0.95) -> Summary:
    """Combine replications: every KPI as mean and confidence interval."""
    names = list(runs[0].queues)
    hours = max(len(r.queues[q].throughput_by_hour) for r in runs for q in names)

    def pad(values: tuple[float, ...], fill: float) -> list[float]:
        return list(values) + [fill] * (hours - len(values))

    return Summary(
        replications=len(runs),
        queues={
            q: {
                m: estimate([float(getattr(r.queues[q], m)) for r in runs], confidence)
                for m in SCALARS
            }
            for q in names
        },
        throughput_by_hour={
            q: tuple(
                estimate([pad(r.queues[q].throughput_by_hour, 0)[h] for r in runs], confidence)
                for h in range(hours)
            )
            for q in names
        },
        length_by_hour={
            q: tuple(
                estimate([pad(r.queues[q].length_by_hour, 0.0)[h] for r in runs], confidence)
                for h in range(hours)
            )
            for q in names
        },
        within_sl_by_hour={
            q: tuple(
                estimate(
                    [pad(r.queues[q].within_sl_by_hour, math.nan)[h] for r in runs], confidence
                )
                for h in range(hours)
            )
            for q in names
        },
        referral_rate={
            k: estimate([r.referral_rate[k] for r in runs], confidence)
            for k in runs[0].referral_rate
        },
        over_capacity_s=estimate([r.over_capacity_s for r in runs], confidence),
        time_in_hall_p95_s=estimate([r.time_in_hall_p95_s for r in runs], confidence),
    )
