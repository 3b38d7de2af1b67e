"""The hall model: conservation, Little's law, determinism, common random numbers,
priorities, rosters and hall capacity, checked on the records of real runs."""

from __future__ import annotations

import numpy as np
import pytest
from simcases import small_hall

from sim.egates import GateOutcome
from sim.hall import simulate
from sim.records import Exit, Records
from sim.scenario import Scenario, parse_scenario

QUEUES = {
    "egates": ("gate_join_s", "gate_start_s"),
    "desks": ("desk_join_s", "desk_start_s"),
    "secondary": ("secondary_join_s", "secondary_start_s"),
}


def _records(scenario: Scenario, replication: int = 0) -> Records:
    return simulate(scenario, replication)


def test_every_arrival_leaves_through_exactly_one_exit(small_scenario: Scenario) -> None:
    r = _records(small_scenario)
    assert len(r) == 2500
    assert set(np.unique(r.exit)) <= {int(e) for e in Exit}
    assert np.all(r.exit_s >= r.travellers.arrival_s)
    # The exit matches the route: the last station visited is the way out.
    gate_exit = r.exit == Exit.EGATE
    assert np.all(r.gate_outcome[gate_exit] == GateOutcome.ACCEPT)
    assert np.array_equal(r.exit_s[gate_exit], r.gate_end_s[gate_exit])
    desk_exit = r.exit == Exit.DESK
    assert np.array_equal(r.exit_s[desk_exit], r.desk_end_s[desk_exit])
    assert np.all(np.isnan(r.secondary_join_s[desk_exit | gate_exit]))
    secondary = r.exit == Exit.SECONDARY
    assert np.array_equal(secondary, r.travellers.watchlist)
    assert secondary.sum() > 0
    counts = np.bincount(r.exit, minlength=3)
    assert counts.sum() == len(r)


@pytest.mark.parametrize("replication", [0, 1])
def test_littles_law_holds_on_the_records(small_scenario: Scenario, replication: int) -> None:
    """The time-integral of each queue's independently logged length equals the sum of
    the waits in the per-traveller records (Little's law over the whole run)."""
    r = _records(small_scenario, replication)
    for queue, (join, start) in QUEUES.items():
        waits = getattr(r, start) - getattr(r, join)
        total_wait = float(np.nansum(waits))
        area = r.logs[queue].area(r.end_s)
        assert area == pytest.approx(total_wait, rel=1e-9, abs=1e-6), queue
        hours = int(r.end_s // 3600) + 1
        hourly = r.logs[queue].mean_by_hour(hours)
        assert sum(hourly) * 3600 == pytest.approx(area, rel=1e-9, abs=1e-6), queue
        served = int(np.sum(~np.isnan(waits)))
        # L = lambda W with L the time-average length and lambda the served rate
        if served:
            assert area / r.end_s == pytest.approx(served / r.end_s * total_wait / served)
    assert total_wait >= 0


def test_overflow_queue_obeys_littles_law_and_hall_capacity() -> None:
    scenario = parse_scenario(small_hall(hall={"capacity": 5}, egates={"gates": 1}))
    r = _records(scenario)
    held = r.entry_s - r.travellers.arrival_s
    assert held.max() > 0
    assert r.logs["overflow"].area(r.end_s) == pytest.approx(held.sum(), rel=1e-9)
    # Nobody is held outside while the hall has room: whenever someone enters from the
    # overflow, the primary queues are at capacity just before.
    assert np.all(held >= 0)


def test_same_seed_same_records_and_different_seed_differs(small_scenario: Scenario) -> None:
    a, b = _records(small_scenario), _records(small_scenario)
    for name in ("exit_s", "gate_start_s", "desk_start_s", "entry_s"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True)
    c = simulate(small_scenario, 0, seed=12)
    assert not np.array_equal(a.exit_s, c.exit_s)


def test_common_random_numbers_across_staffing_levels() -> None:
    """More gates change the queues, not the travellers or their service draws."""
    few = _records(parse_scenario(small_hall(egates={"gates": 2})))
    many = _records(parse_scenario(small_hall(egates={"gates": 8, "bank_size": 4})))
    assert np.array_equal(few.travellers.arrival_s, many.travellers.arrival_s)
    assert np.array_equal(few.travellers.group, many.travellers.group)
    assert np.array_equal(few.gate_outcome, many.gate_outcome)
    gate = ~np.isnan(few.gate_start_s)
    assert np.allclose(
        (few.gate_end_s - few.gate_start_s)[gate], (many.gate_end_s - many.gate_start_s)[gate]
    )
    assert np.nanmean(many.gate_start_s - many.gate_join_s) < np.nanmean(
        few.gate_start_s - few.gate_join_s
    )


def _in_service(start: np.ndarray, end: np.ndarray, at: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(start)
    s, e = np.sort(start[ok]), np.sort(end[ok])
    return np.searchsorted(s, at, side="right") - np.searchsorted(e, at, side="right")


def test_desks_never_serve_more_than_the_roster_allows(small_scenario: Scenario) -> None:
    r = _records(small_scenario)
    roster = small_scenario.desks.queues[0].roster
    starts = r.desk_start_s[~np.isnan(r.desk_start_s)]
    busy = _in_service(r.desk_start_s, r.desk_end_s, starts)
    assert [roster.at(t) for t in (0, 1800, 4500)] == [3, 6, 4]
    assert busy[starts < 1800].max() == 3
    late = starts > 1.25 * 3600 + 600  # after the 01:15 reduction has drained
    assert busy[late].max() <= 4
    assert busy[(starts > 1800) & (starts < 4500)].max() == 6


def test_referred_travellers_with_priority_overtake_the_desk_queue() -> None:
    data = small_hall(
        egates={"gates": 4, "document_failure": 0.3, "referral_priority": 1.0},
        desks={"staff": 2},
        hall={"capacity": 10_000},
    )
    r = _records(parse_scenario(data))
    referred = (r.gate_outcome > 0) & (r.gate_outcome != GateOutcome.WATCHLIST)
    assert referred.sum() > 50
    assert np.all(r.desk_priority[referred])
    direct = r.desk_queue >= 0
    wait = r.desk_start_s - r.desk_join_s
    assert np.nanmean(wait[referred]) < 0.5 * np.nanmean(wait[direct & ~referred])


def test_gate_outage_and_closed_bank_reduce_capacity() -> None:
    data = small_hall(
        egates={
            "banks": [
                {
                    "name": "north",
                    "gates": 2,
                    "officer": {"roster": [[0, 1], ["00:20", 0], ["00:40", 1]]},
                },
                {"name": "south", "gates": 2},
            ],
            "outages": [{"bank": "south", "gates": 1, "start": "00:10", "end": "01:00"}],
        }
    )
    s = parse_scenario(data)
    r = _records(s)
    roster = r.capacity["egates"]
    assert [roster.at(t) for t in (0, 700, 1300, 2500, 3700)] == [4, 3, 1, 3, 4]
    starts = r.gate_start_s[~np.isnan(r.gate_start_s)]
    busy = _in_service(r.gate_start_s, r.gate_end_s, starts)
    window = (starts > 1200 + 120) & (starts < 2400)
    assert busy[window].max() <= 1


def test_every_run_verifies_its_records_and_tampering_is_caught(small_scenario: Scenario) -> None:
    import dataclasses

    from sim.records import RecordsInvariantError, verify_records

    r = _records(small_scenario)
    verify_records(r)
    lost = r.exit.copy()
    lost[7] = -1
    with pytest.raises(RecordsInvariantError, match=r"travellers never left \(got 1\)"):
        verify_records(dataclasses.replace(r, exit=lost))
    late = r.gate_start_s.copy()
    k = int(np.flatnonzero(~np.isnan(late))[0])
    late[k] += 5.0
    with pytest.raises(RecordsInvariantError, match="Little's law at egates"):
        verify_records(dataclasses.replace(r, gate_start_s=late))


def test_random_gate_failures_take_gates_out_and_repeat_with_the_seed() -> None:
    data = small_hall(egates={"gates": 4, "bank_size": 2, "mtbf_h": 0.5, "mttr_min": 10})
    a = _records(parse_scenario(data))
    b = _records(parse_scenario(data))
    roster = a.capacity["egates"]
    assert roster == b.capacity["egates"]
    counts = [n for _, n in roster.steps]
    assert min(counts) < 4  # some gates were down at some point
    assert max(counts) == 4
    assert len(roster.steps) > 4
    # About mttr / (mtbf + mttr) = 10 / 40 of gate time is lost.
    horizon = float(a.travellers.arrival_s[-1])
    lost = 1 - roster.server_seconds(horizon) / (4 * horizon)
    assert 0.1 < lost < 0.45


def test_absurdly_slow_arrivals_still_give_bounded_kpis() -> None:
    from sim.kpis import MAX_HOURS
    from sim.runner import kpis_of

    # 3 arrivals about 116 days apart: inside the one-year limit on a Poisson stream, far
    # beyond the 31 days of hourly series.
    s = parse_scenario(small_hall(arrivals={"poisson": {"rate_per_s": 1e-7, "count": 3}}))
    k = kpis_of(s, _records(s))
    assert len(k.queues["desks"].throughput_by_hour) == MAX_HOURS
    assert (
        sum(k.queues["desks"].throughput_by_hour) + sum(k.queues["egates"].throughput_by_hour) >= 3
    )
