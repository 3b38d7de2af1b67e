"""Scenario builders shared by the simulator tests."""

from __future__ import annotations

import textwrap
from typing import Any

GOLDEN_LOG = textwrap.dedent(
    """\
    arrival_s,group,age,watchlist
    0,national,40,0
    5,eea,33,0
    7,visa,51,0
    9,national,8,0
    12,b5jssk,29,1
    30,national,61,0
    """
)


def small_hall(**overrides: Any) -> dict[str, Any]:
    """A two-hour hall with Poisson arrivals: 4 gates, a roster of desks, secondary."""
    data: dict[str, Any] = {
        "name": "small",
        "seed": 11,
        "replications": 2,
        "arrivals": {"poisson": {"rate_per_s": 0.4, "count": 2500}},
        "travellers": {"watchlist_rate": 0.01},
        "egates": {"gates": 4, "bank_size": 2, "document_failure": 0.05},
        "desks": {"roster": [[0, 3], ["00:30", 6], ["01:15", 4]]},
        "secondary": {"staff": 2},
        "hall": {"capacity": 60},
    }
    data.update(overrides)
    return data
