"""Staffed desks (booths): queues by nationality group, service time by group, rosters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sim.distributions import Distribution, Gamma, LogNormal
from sim.rosters import Roster
from sim.streams import Source, Streams
from sim.travellers import FloatArray, NationalityGroup, Travellers


def _drt_desk_times() -> dict[NationalityGroup, Distribution]:
    # Means: DRT defaults by nationality (notes, "desk by nationality"); spread: the
    # Edinburgh desk's coefficient of variation, sd 15 on a mean of 90 (notes).
    means = {
        NationalityGroup.NATIONAL: 23.0,
        NationalityGroup.EEA: 26.0,
        NationalityGroup.B5JSSK: 46.0,
        NationalityGroup.NON_VISA: 91.0,
        NationalityGroup.VISA: 101.0,
    }
    return {g: Gamma(m, m / 6.0) for g, m in means.items()}


@dataclass(frozen=True)
class DeskQueue:
    """One desk queue (a lane), the groups it accepts and the officers on its roster."""

    name: str
    groups: frozenset[NationalityGroup]
    roster: Roster


@dataclass(frozen=True)
class DeskConfig:
    queues: tuple[DeskQueue, ...]
    service_s: Mapping[NationalityGroup, Distribution] = field(default_factory=_drt_desk_times)

    def service_times(self, travellers: Travellers, streams: Streams) -> FloatArray:
        """Desk service time (s) of every traveller, by nationality group."""
        rng = streams[Source.DESK_SERVICE]
        n = len(travellers)
        out = np.zeros(n)
        for group in NationalityGroup:
            drawn = self.service_s[group].sample(rng, n)
            out = np.where(travellers.group == group, drawn, out)
        return out


@dataclass(frozen=True)
class SecondaryConfig:
    """Secondary inspection of APIS/watchlist hits (assumption: 2 officers, ~15 min each)."""

    roster: Roster = field(default_factory=lambda: Roster.constant(2))
    service_s: Distribution = field(default_factory=lambda: LogNormal(900.0, 300.0))
