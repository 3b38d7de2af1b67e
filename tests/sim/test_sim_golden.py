"""Golden trace: a tiny hall with a fixed seed yields exactly this event log.

Six travellers replayed from an arrival log (tests/sim/simcases.py): one gate, one
desk, one secondary officer. What the log shows, checkable by hand: the visa
national (2) and the 8-year-old (3) are not eligible and go to the desk; the EEA
traveller (1) is referred for a document failure and, with desk priority, is served
before the child who had been waiting longer; the watchlist hit (4) goes from the
gate to secondary inspection.
"""

from __future__ import annotations

from sim.hall import simulate
from sim.scenario import Scenario

GOLDEN = [
    (0.0, 0, "arrive", "hall"),
    (0.0, 0, "enter", "hall"),
    (0.0, 0, "join", "egates"),
    (0.0, 0, "start", "egates"),
    (5.0, 1, "arrive", "hall"),
    (5.0, 1, "enter", "hall"),
    (5.0, 1, "join", "egates"),
    (7.0, 2, "arrive", "hall"),
    (7.0, 2, "enter", "hall"),
    (7.0, 2, "join", "desks"),
    (7.0, 2, "start", "desks"),
    (9.0, 3, "arrive", "hall"),
    (9.0, 3, "enter", "hall"),
    (9.0, 3, "join", "desks"),
    (12.0, 4, "arrive", "hall"),
    (12.0, 4, "enter", "hall"),
    (12.0, 4, "join", "egates"),
    (23.097418, 0, "end", "egates"),
    (23.097418, 1, "start", "egates"),
    (23.097418, 0, "exit", "egate"),
    (30.0, 5, "arrive", "hall"),
    (30.0, 5, "enter", "hall"),
    (30.0, 5, "join", "egates"),
    (57.821598, 1, "end", "egates"),
    (57.821598, 4, "start", "egates"),
    (57.821598, 1, "refer", "document"),
    (57.821598, 1, "join", "desks"),
    (79.077348, 4, "end", "egates"),
    (79.077348, 5, "start", "egates"),
    (79.077348, 4, "refer", "watchlist"),
    (79.077348, 4, "join", "secondary"),
    (79.077348, 4, "start", "secondary"),
    (114.390745, 5, "end", "egates"),
    (114.390745, 5, "exit", "egate"),
    (115.555428, 2, "end", "desks"),
    (115.555428, 1, "start", "desks"),
    (115.555428, 2, "exit", "desk"),
    (140.817176, 1, "end", "desks"),
    (140.817176, 3, "start", "desks"),
    (140.817176, 1, "exit", "desk"),
    (161.301694, 3, "end", "desks"),
    (161.301694, 3, "exit", "desk"),
    (568.908746, 4, "end", "secondary"),
    (568.908746, 4, "exit", "secondary"),
]


def test_golden_event_log(golden_scenario: Scenario) -> None:
    records = simulate(golden_scenario, 0, trace=True)
    assert records.events is not None
    assert [e.as_tuple() for e in records.events] == GOLDEN


def test_trace_does_not_change_the_run(golden_scenario: Scenario) -> None:
    import numpy as np

    with_trace = simulate(golden_scenario, 0, trace=True)
    without = simulate(golden_scenario, 0)
    assert without.events is None
    assert np.array_equal(with_trace.exit_s, without.exit_s)
