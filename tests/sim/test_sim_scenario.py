"""Scenario validation: every mistake is a ScenarioError naming the key and value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simcases import small_hall

from sim import SimError
from sim.distributions import DistributionError, Exponential, Fixed, parse_distribution
from sim.hall import simulate
from sim.runner import kpis_of
from sim.scenario import (
    InvalidValue,
    MissingKey,
    ScenarioError,
    UnknownKey,
    UnservedQueue,
    builtin_path,
    load_scenario,
    parse_scenario,
    read_mapping,
)


def test_builtin_scenarios_are_valid() -> None:
    demo = load_scenario(builtin_path("demo"))
    assert demo.egates.gates == 60
    assert len(demo.egates.banks) == 6
    assert demo.desks.queues[0].roster.peak == 45
    assert demo.queues == ("egates", "desks", "secondary")
    mmc = load_scenario(builtin_path("mmc"))
    assert mmc.egates.gates == 0
    assert mmc.desks.service_s  # every group has an exponential(1) desk time
    assert all(d == Exponential(1.0) for d in mmc.desks.service_s.values())


def test_unknown_key_is_named_with_its_path() -> None:
    with pytest.raises(UnknownKey, match=r"egates\.gatez: unknown key \(got 40\)") as info:
        parse_scenario(small_hall(egates={"gatez": 40}))
    assert info.value.code == "unknown_key"
    assert info.value.path == "egates.gatez"
    with pytest.raises(UnknownKey, match=r"^colour: unknown key"):
        parse_scenario({**small_hall(), "colour": "blue"})


def test_negative_rate_is_rejected() -> None:
    with pytest.raises(
        InvalidValue, match=r"arrivals\.poisson\.rate_per_s: must be > 0\.0 \(got -2\)"
    ):
        parse_scenario(small_hall(arrivals={"poisson": {"rate_per_s": -2, "count": 10}}))


def test_a_stream_lasting_more_than_a_year_is_rejected() -> None:
    # 1e-320 a second makes every exponential gap infinite: the run would be meaningless.
    with pytest.raises(InvalidValue, match=r"rate_per_s: 10 arrivals at this rate .* a year"):
        parse_scenario(small_hall(arrivals={"poisson": {"rate_per_s": 1e-320, "count": 10}}))
    ok = parse_scenario(small_hall(arrivals={"poisson": {"rate_per_s": 1e-5, "count": 10}}))
    assert ok.arrivals is not None


def test_negative_service_time_is_rejected() -> None:
    with pytest.raises(
        InvalidValue, match=r"desks\.service_s\.visa: mean must be positive"
    ) as info:
        parse_scenario(
            small_hall(
                desks={"staff": 2, "service_s": {"visa": {"dist": "exponential", "mean": -1}}}
            )
        )
    assert info.value.value == {"dist": "exponential", "mean": -1}


def test_queue_nobody_serves_is_rejected() -> None:
    data = small_hall(
        desks={
            "queues": [
                {"name": "residents", "groups": ["national", "eea"], "staff": 4},
                {"name": "visitors", "groups": ["b5jssk", "non_visa", "visa"], "staff": 0},
            ]
        }
    )
    with pytest.raises(UnservedQueue, match=r"desks\.visitors: no desk is ever staffed") as info:
        parse_scenario(data)
    assert info.value.code == "unserved_queue"


def test_group_without_a_desk_queue_is_rejected() -> None:
    data = small_hall(
        desks={"queues": [{"name": "residents", "groups": ["national", "eea"], "staff": 4}]}
    )
    with pytest.raises(
        UnservedQueue, match=r"no desk queue accepts this nationality group \(got 'b5jssk'\)"
    ):
        parse_scenario(data)


def test_roster_ending_unstaffed_is_rejected() -> None:
    with pytest.raises(UnservedQueue, match="roster ends with no staff"):
        parse_scenario(small_hall(desks={"roster": [[0, 5], ["23:00", 0]]}))


def test_missing_arrivals_is_named() -> None:
    data = small_hall()
    del data["arrivals"]
    with pytest.raises(MissingKey, match=r"^arrivals: required key is missing"):
        parse_scenario(data)


def test_gate_policy_errors_surface_as_scenario_errors() -> None:
    with pytest.raises(InvalidValue, match=r"egates\.max_attempts: must be >= 1"):
        parse_scenario(small_hall(egates={"gates": 2, "max_attempts": 0}))
    with pytest.raises(InvalidValue, match=r"egates\.outages\[0\]\.bank: no such bank"):
        parse_scenario(
            small_hall(egates={"gates": 2, "outages": [{"bank": "x", "start": 0, "end": 10}]})
        )


def test_toml_and_yaml_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(
        'name = "t"\n[arrivals.poisson]\nrate_per_s = 0.5\ncount = 10\n[desks]\nstaff = 2\n',
        encoding="utf-8",
    )
    (tmp_path / "a.yaml").write_text(
        "name: t\narrivals: {poisson: {rate_per_s: 0.5, count: 10}}\ndesks: {staff: 2}\n",
        encoding="utf-8",
    )
    assert read_mapping(tmp_path / "a.toml") == read_mapping(tmp_path / "a.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="a scenario file must hold a mapping"):
        load_scenario(tmp_path / "bad.yaml")


def test_overrides_reach_nested_keys() -> None:
    s = load_scenario(
        builtin_path("demo"), {"egates.gates": 20, "desks.staff": 12, "egates.threshold": 0.5}
    )
    assert s.egates.gates == 20
    assert s.desks.queues[0].roster.peak == 12
    assert s.egates.policy.match_threshold == 0.5


def test_distribution_forms() -> None:
    assert parse_distribution(3) == Fixed(3.0)
    assert parse_distribution({"dist": "exponential", "mean": 2}) == Exponential(2.0)
    with pytest.raises(DistributionError, match="unknown key 'sd' for exponential"):
        parse_distribution({"dist": "exponential", "mean": 2, "sd": 1})
    with pytest.raises(DistributionError, match="high must not be below low"):
        parse_distribution({"dist": "uniform", "low": 5, "high": 1})


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 50),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(-1, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
_paths = st.sampled_from(
    [
        ("seed",),
        ("replications",),
        ("warmup_s",),
        ("arrivals", "poisson", "rate_per_s"),
        ("arrivals", "poisson", "count"),
        ("arrivals", "scale"),
        ("egates", "gates"),
        ("egates", "bank_size"),
        ("egates", "threshold"),
        ("egates", "uptake"),
        ("egates", "eligible_groups"),
        ("desks", "roster"),
        ("desks", "service_s"),
        ("secondary", "staff"),
        ("hall", "capacity"),
        ("travellers", "groups"),
        ("service_levels", "desks"),
        ("egates", "steps", "capture_s"),
        ("name",),
        ("extra",),
    ]
)


@settings(max_examples=300, deadline=None)
@given(path=_paths, value=_values)
def test_any_mutation_parses_or_raises_a_scenario_error(path: tuple[str, ...], value: Any) -> None:
    data = copy.deepcopy(small_hall())
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    try:
        scenario = parse_scenario(data)
    except SimError as exc:
        error: SimError | None = exc
    else:
        error = None
    if error is not None:
        assert isinstance(error, ScenarioError)
        assert error.code in {
            "unknown_key",
            "missing_key",
            "invalid_value",
            "unserved_queue",
            "invalid_scenario",
        }
        return
    assert isinstance(scenario.name, str)
    records = simulate(scenario, 0)  # a valid scenario runs to the end ...
    assert np.all(records.exit >= 0)
    kpis = kpis_of(scenario, records)  # ... and its records hold the invariants
    assert kpis.travellers == len(records)


def test_shipped_example_scenario_runs_with_every_feature() -> None:
    from importlib import resources

    from sim.egates import GateOutcome

    path = Path(str(resources.files("sim") / "scenarios" / "terminal.yaml"))
    s = load_scenario(path, {"arrivals.scale": 0.1})
    assert [b.name for b in s.egates.banks] == ["north", "south"]
    assert s.egates.det.source == "det_example.csv"
    assert s.queues == ("egates", "residents", "visitors", "secondary")
    r = simulate(s, 0)
    assert np.all(r.exit >= 0)
    # Lanes take only their groups; e-gate referrals land in their group's lane.
    residents = r.desk_queue == 0
    assert set(np.unique(r.travellers.group[residents])) <= {0, 1}
    assert set(np.unique(r.travellers.group[r.desk_queue == 1])) <= {2, 3, 4}
    assert np.any(r.gate_outcome == GateOutcome.DOCUMENT)
    # The north bank's officer is off 23:00-23:30 and the south bank loses 2 gates 12:00-14:00.
    gates = r.capacity["egates"]
    assert gates.at(12.5 * 3600) <= 18
    assert gates.at(23.2 * 3600) <= 10
