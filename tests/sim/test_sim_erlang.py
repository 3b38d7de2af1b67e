"""Erlang C acceptance: the simulator reproduces the exact M/M/c waiting time.

c = 10, rho = 0.9, unit service rate: mean wait 0.6687 and 95th percentile 2.593
(shared/notes/border-standards.md, last paragraph) must lie inside the 95%
confidence interval of 20 replications of 200,000 customers each.
"""

from __future__ import annotations

import pytest

from sim.erlang import erlang_c, mean_wait, wait_quantile
from sim.kpis import estimate
from sim.runner import run_scenario
from sim.scenario import builtin_path, load_scenario


def test_erlang_c_formula_gives_the_published_figures() -> None:
    assert mean_wait(10, 9.0, 1.0) == pytest.approx(0.6687, abs=5e-5)
    assert wait_quantile(10, 9.0, 1.0, 0.95) == pytest.approx(2.593, abs=5e-4)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert wait_quantile(10, 1.0, 1.0, 0.95) == 0.0  # light load: 95% never wait
    with pytest.raises(ValueError, match=r"offered load 10\.0 must be in"):
        erlang_c(10, 10.0)


@pytest.mark.slow
def test_mmc_scenario_reproduces_erlang_c_within_the_confidence_interval() -> None:
    scenario = load_scenario(builtin_path("mmc"))
    assert scenario.replications == 20
    assert scenario.arrivals.count == 200_000  # type: ignore[attr-defined]
    result = run_scenario(scenario, workers=2, keep_records=False)
    desks = [k.queues["desks"] for k in result.kpis]
    mean = estimate([q.wait_mean_s for q in desks])
    p95 = estimate([q.wait_p95_s for q in desks])
    assert mean.n == p95.n == 20
    assert mean.contains(0.6687), mean
    assert p95.contains(2.593), p95
    # The interval is narrow enough to mean something (under 10% of the value wide).
    assert mean.high - mean.low < 0.1 * 0.6687
    assert p95.high - p95.low < 0.1 * 2.593
    utilisation = estimate([q.utilisation for q in desks])
    assert utilisation.mean == pytest.approx(0.9, abs=0.01)
