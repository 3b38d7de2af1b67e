"""Rosters: how many servers (desk officers, working e-gates) a station has over the day.

A roster is a step function of time: `((0, 10), (21600, 30), (79200, 12))`
means 10 from midnight, 30 from 06:00 and 12 from 22:00 until the end of the
run. Servers that go off duty finish the traveller in front of them first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Roster:
    """Staff on duty from each `(time_s, count)` step on; the first step starts at 0 s."""

    steps: tuple[tuple[float, int], ...]

    @staticmethod
    def constant(count: int) -> Roster:
        return Roster(((0.0, count),))

    def at(self, time_s: float) -> int:
        """Servers on duty at `time_s` (seconds from midnight)."""
        count = 0
        for start, n in self.steps:
            if start > time_s:
                break
            count = n
        return count

    @property
    def final(self) -> int:
        return self.steps[-1][1]

    @property
    def peak(self) -> int:
        return max(n for _, n in self.steps)

    def server_seconds(self, end_s: float) -> float:
        """Integral of servers on duty from 0 to `end_s` (server-seconds)."""
        total = 0.0
        bounds = [s for s, _ in self.steps[1:]] + [max(end_s, self.steps[-1][0])]
        for (start, n), stop in zip(self.steps, bounds, strict=True):
            total += n * max(0.0, min(stop, end_s) - start)
        return total


def add(rosters: Sequence[Roster]) -> Roster:
    """The pointwise sum of `rosters` (e.g. the gates of several banks)."""
    times = sorted({t for r in rosters for t, _ in r.steps} | {0.0})
    steps: list[tuple[float, int]] = []
    for t in times:
        n = sum(r.at(t) for r in rosters)
        if not steps or steps[-1][1] != n:
            steps.append((t, n))
    return Roster(tuple(steps))


def gates_available(gates: int, officer: Roster, down: Iterable[tuple[float, float]]) -> Roster:
    """Working gates of a bank of `gates`: none while its officer is off duty, one fewer
    during each `(start_s, end_s)` outage of one gate."""
    deltas: dict[float, int] = {}
    for start, end in down:
        deltas[start] = deltas.get(start, 0) - 1
        deltas[end] = deltas.get(end, 0) + 1
    times = sorted(set(deltas) | {t for t, _ in officer.steps} | {0.0})
    steps: list[tuple[float, int]] = []
    out = 0
    for t in times:
        out += deltas.get(t, 0)
        n = max(0, gates + out) if officer.at(t) > 0 else 0
        if not steps or steps[-1][1] != n:
            steps.append((t, n))
    return Roster(tuple(steps))


def random_outages(
    rng: np.random.Generator, gates: int, mtbf_s: float, mttr_s: float, horizon_s: float
) -> list[tuple[float, float]]:
    """Failure and repair windows `(start_s, end_s)` of `gates` gates with exponential
    time between failures (mean `mtbf_s`) and repair time (mean `mttr_s`) up to `horizon_s`."""
    windows: list[tuple[float, float]] = []
    for _ in range(gates):
        t = 0.0
        while True:
            t += float(rng.exponential(mtbf_s))
            if t >= horizon_s:
                break
            end = t + float(rng.exponential(mttr_s))
            windows.append((t, end))
            t = end
    return windows
