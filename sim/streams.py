"""Random streams: one `numpy.random.Generator` per source of randomness.

Two scenarios run with the same seed draw the same travellers, the same
arrival times and the same service times (common random numbers), because
every source has its own stream derived from `(seed, replication, source)` and
every per-traveller variate is drawn for every traveller, whether or not the
traveller ends up using it. Adding a source never shifts the others: each
source has a fixed number, never its position in a list.
"""

from __future__ import annotations

import enum

import numpy as np


class Source(enum.IntEnum):
    """The sources of randomness; the numbers are part of the seed and never change."""

    ARRIVALS = 1  # inter-arrival times, flight punctuality, load factors, walking, coaches
    TRAVELLERS = 2  # nationality group, age, enrolment, document, watchlist status
    ROUTING = 3  # e-gate uptake, desk priority of referred travellers
    GATE_SERVICE = 4  # document read, capture, match and door times
    BIOMETRICS = 5  # document failures, failure to acquire, false non-match, timeouts
    DESK_SERVICE = 6  # staffed desk service times
    SECONDARY = 7  # secondary inspection service times
    OUTAGES = 8  # random e-gate failures and repairs


def stream(seed: int, replication: int, source: Source) -> np.random.Generator:
    """The generator of `source` in replication `replication` of a run seeded with `seed`."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, replication, source])))


class Streams:
    """All the streams of one replication, created lazily and cached by source."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._cache: dict[Source, np.random.Generator] = {}

    def __getitem__(self, source: Source) -> np.random.Generator:
        if source not in self._cache:
            self._cache[source] = stream(self.seed, self.replication, source)
        return self._cache[source]
