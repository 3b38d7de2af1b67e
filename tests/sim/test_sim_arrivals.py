"""Arrival sources: flight schedule (punctuality, deplaning, walking, coaches),
recorded arrival logs replayed exactly, Poisson; and the traveller mix."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.arrivals import (
    ArrivalsError,
    Deplaning,
    Flight,
    Punctuality,
    Stand,
    flight_arrivals,
    poisson_arrivals,
    read_arrival_log,
    read_schedule,
    synthetic_schedule,
    write_schedule,
)
from sim.distributions import Fixed
from sim.streams import Source, Streams
from sim.travellers import NationalityGroup, TravellerMix, group_of

MIX = TravellerMix.default()


def test_schedule_round_trips_and_reports_bad_lines(tmp_path: Path) -> None:
    flights = synthetic_schedule(np.random.default_rng(1), 20)
    write_schedule(flights, tmp_path / "s.csv")
    assert read_schedule(tmp_path / "s.csv") == flights
    (tmp_path / "bad.csv").write_text(
        "flight,scheduled,seats,load_factor,origin,stand\nBA1,07:30,200,0.8,JFK,contact\nBA2,7h,200,0.8,JFK,contact\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ArrivalsError,
        match=r"bad.csv line 3: scheduled must be HH:MM\[:SS\] or seconds \(got '7h'\)",
    ):
        read_schedule(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("flight,seats\n", encoding="utf-8")
    with pytest.raises(ArrivalsError, match="missing column 'scheduled'"):
        read_schedule(tmp_path / "cols.csv")


def test_deplaning_rate_and_walk_are_honoured() -> None:
    """One full flight, on time, fixed walk: travellers leave the door 14 a minute."""
    flight = Flight("T1", 3600.0, 140, 1.0, "JFK", Stand.CONTACT)
    never_late = Punctuality(late_share=0.0, early_share=0.0)
    deplaning = Deplaning(walk_s=Fixed(300.0), door_open_s=60.0)
    t = flight_arrivals(
        [flight], Streams(1, 0), mix=MIX, punctuality=never_late, deplaning=deplaning
    )
    assert len(t) == 140
    assert t.arrival_s[0] == pytest.approx(3600 + 60 + 300)
    # 140 travellers through one door at 14 a minute: the last one leaves after 9 5/7 min.
    assert t.arrival_s[-1] == pytest.approx(3600 + 60 + 300 + 139 * 60 / 14)
    assert np.all(np.diff(t.arrival_s) >= 0)


def test_remote_stands_arrive_in_coach_loads() -> None:
    flight = Flight("T2", 0.0, 150, 1.0, "FRA", Stand.REMOTE)
    deplaning = Deplaning(walk_s=Fixed(0.0), coach_capacity=50)
    t = flight_arrivals(
        [flight],
        Streams(3, 0),
        mix=MIX,
        punctuality=Punctuality(0, 0, 0, 0, 0, 0),
        deplaning=deplaning,
    )
    assert len(np.unique(t.arrival_s)) == 3  # three coaches of 50
    assert np.all(np.bincount(np.unique(t.arrival_s, return_inverse=True)[1]) == 50)


def test_punctuality_shares_follow_the_edinburgh_figures() -> None:
    delays = Punctuality().delays_s(np.random.default_rng(5), 200_000) / 60
    assert np.mean(delays == 0) == pytest.approx(0.58, abs=0.01)
    assert np.mean(delays < 0) == pytest.approx(0.21, abs=0.01)
    assert np.mean(delays[delays < 0]) == pytest.approx(-21, abs=0.3)


def test_scale_multiplies_travellers_and_keeps_flights() -> None:
    flights = synthetic_schedule(np.random.default_rng(2), 30)
    base = flight_arrivals(flights, Streams(1, 0), mix=MIX)
    more = flight_arrivals(flights, Streams(1, 0), mix=MIX, scale=1.5)
    assert len(more) / len(base) == pytest.approx(1.5, rel=0.03)
    assert set(np.unique(base.flight)) == set(np.unique(more.flight))


def test_arrival_log_is_replayed_exactly(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(
        "arrival_s,group,nationality,age,document,watchlist\n"
        "10.25,eea,FRA,30,TD1,0\n07:00:01,visa,IND,44,TD3,1\n3,national,GBR,9,TD3,0\n",
        encoding="utf-8",
    )
    t = read_arrival_log(tmp_path / "log.csv", Streams(1, 0), mix=MIX)
    assert t.arrival_s.tolist() == [3.0, 10.25, 25201.0]
    assert t.group.tolist() == [
        NationalityGroup.NATIONAL,
        NationalityGroup.EEA,
        NationalityGroup.VISA,
    ]
    assert t.nationality.tolist() == ["GBR", "FRA", "IND"]
    assert t.age.tolist() == [9, 30, 44]
    assert t.document.tolist() == [0, 1, 0]
    assert t.watchlist.tolist() == [False, False, True]
    (tmp_path / "bad.csv").write_text("arrival_s,group\n1,martian\n", encoding="utf-8")
    with pytest.raises(ArrivalsError, match=r"arrival log line 2: bad group \(got 'martian'\)"):
        read_arrival_log(tmp_path / "bad.csv", Streams(1, 0), mix=MIX)


def test_poisson_rate_and_mix_shares() -> None:
    t = poisson_arrivals(2.0, 100_000, Streams(9, 0), mix=MIX)
    assert len(t) / t.arrival_s[-1] == pytest.approx(2.0, rel=0.02)
    shares = np.bincount(t.group, minlength=5) / len(t)
    assert shares[NationalityGroup.NATIONAL] == pytest.approx(0.45, abs=0.01)
    assert np.mean(t.age < 12) == pytest.approx(0.08, abs=0.005)


def test_streams_are_independent_per_source() -> None:
    a = Streams(1, 0)[Source.ARRIVALS].random(3)
    b = Streams(1, 0)[Source.TRAVELLERS].random(3)
    c = Streams(1, 1)[Source.ARRIVALS].random(3)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(a, Streams(1, 0)[Source.ARRIVALS].random(3))


def test_groups_of_nationalities() -> None:
    assert group_of("GBR", "GBR") is NationalityGroup.NATIONAL
    assert group_of("D<<", "GBR") is NationalityGroup.EEA
    assert group_of("USA", "GBR") is NationalityGroup.B5JSSK
    assert group_of("IND", "GBR") is NationalityGroup.VISA


_cells = st.one_of(
    st.text(alphabet="0123456789:.-eE abcxyzTDnaif", max_size=8),
    st.sampled_from(["national", "eea", "visa", "TD1", "TD3", "1", "0", "yes", "GBR", "07:30", ""]),
)


@settings(max_examples=200, deadline=None)
@given(
    columns=st.lists(
        st.sampled_from(["arrival_s", "group", "age", "document", "watchlist", "x"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    rows=st.lists(st.lists(_cells, min_size=4, max_size=4), max_size=5),
)
def test_arrival_log_reader_returns_travellers_or_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, columns: list[str], rows: list[list[str]]
) -> None:
    path = tmp_path_factory.mktemp("log") / "log.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(columns)
        for row in rows:
            out.writerow(row[: len(columns)])
    try:
        t = read_arrival_log(path, Streams(1, 0), mix=MIX)
    except ArrivalsError as exc:
        error: ArrivalsError | None = exc
    else:
        error = None
    if error is not None:
        assert error.code == "invalid_arrivals"
        return
    assert len(t) == len(rows)
    assert np.all(np.isfinite(t.arrival_s))
    assert np.all(t.arrival_s >= 0)
    assert np.all(np.diff(t.arrival_s) >= 0)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(_cells, min_size=6, max_size=6), min_size=1, max_size=4))
def test_schedule_reader_returns_flights_or_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]]
) -> None:
    path = tmp_path_factory.mktemp("sched") / "s.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["flight", "scheduled", "seats", "load_factor", "origin", "stand"])
        out.writerows(rows)
    try:
        flights = read_schedule(path)
    except ArrivalsError as exc:
        message: str | None = str(exc)
    else:
        message = None
    if message is not None:
        assert "line" in message or "no flights" in message
        return
    assert all(f.seats >= 0 and 0 <= f.load_factor <= 1 for f in flights)
    assert all(math.isfinite(f.scheduled_s) and f.scheduled_s >= 0 for f in flights)


def test_early_flight_just_after_midnight_arrives_at_the_start_of_the_day() -> None:
    flight = Flight("T3", 60.0, 50, 1.0, "JFK", Stand.CONTACT)
    always_early = Punctuality(
        late_share=0.0, early_share=1.0, early_mean_min=30.0, early_sd_min=0.1
    )
    t = flight_arrivals(
        [flight],
        Streams(1, 0),
        mix=MIX,
        punctuality=always_early,
        deplaning=Deplaning(walk_s=Fixed(0.0)),
    )
    assert t.arrival_s.min() == 0.0
    assert np.all(t.arrival_s >= 0)


def test_arrival_log_with_iso_timestamps_counts_from_midnight(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(
        "arrival_s,group\n2026-05-02T06:30:05,eea\n2026-05-02T06:30:00,national\n2026-05-03T00:00:01,visa\n",
        encoding="utf-8",
    )
    t = read_arrival_log(tmp_path / "log.csv", Streams(1, 0), mix=MIX)
    assert t.arrival_s.tolist() == [23400.0, 23405.0, 86401.0]
    (tmp_path / "bad.csv").write_text(
        "arrival_s\n2026-05-02T06:30:05\n2026-05-02T25:00\n", encoding="utf-8"
    )
    with pytest.raises(
        ArrivalsError, match=r"arrival log line 3: bad arrival_s \(got '2026-05-02T25:00'\)"
    ):
        read_arrival_log(tmp_path / "bad.csv", Streams(1, 0), mix=MIX)
