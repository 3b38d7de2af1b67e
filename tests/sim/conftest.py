"""Small scenarios shared by the simulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from simcases import GOLDEN_LOG, small_hall

from sim.scenario import Scenario, parse_scenario


@pytest.fixture
def small_scenario() -> Scenario:
    return parse_scenario(small_hall())


@pytest.fixture
def golden_scenario(tmp_path: Path) -> Scenario:
    (tmp_path / "log.csv").write_text(GOLDEN_LOG, encoding="utf-8")
    return parse_scenario(
        {
            "name": "golden",
            "seed": 7,
            "replications": 1,
            "arrivals": {"log": {"path": "log.csv"}},
            "egates": {"gates": 1, "uptake": 1.0, "document_failure": 0.3},
            "desks": {"staff": 1},
            "secondary": {"staff": 1},
        },
        tmp_path,
    )
