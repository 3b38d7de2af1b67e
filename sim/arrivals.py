"""Arrivals at the hall, three ways: a flight schedule, PAXLST manifests, or a
recorded arrival log replayed exactly (plus Poisson arrivals for queueing checks).

Each source returns `Travellers` sorted by the time they reach the hall, in
seconds from midnight of the simulated day.
"""

from __future__ import annotations

import csv
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import numpy as np

from sim import SimError
from sim.distributions import Distribution, LogNormal, Normal
from sim.streams import Source, Streams
from sim.travellers import (
    DOCUMENT_TYPES,
    FloatArray,
    IntArray,
    NationalityGroup,
    TravellerMix,
    Travellers,
)

T = TypeVar("T")


class ArrivalsError(SimError):
    """An arrival source (schedule, log, manifest directory) that cannot be read."""

    code = "invalid_arrivals"

    def __init__(self, where: str, value: object, reason: str) -> None:
        self.where = where
        self.value = value
        self.reason = reason
        super().__init__(f"{where}: {reason} (got {value!r})")


class Stand(enum.Enum):
    CONTACT = "contact"  # jet bridge: travellers walk from the door to the hall
    REMOTE = "remote"  # stairs and coaches: travellers ride to the terminal in batches


@dataclass(frozen=True, slots=True)
class Flight:
    name: str
    scheduled_s: float  # scheduled on-block, seconds from midnight
    seats: int
    load_factor: float
    origin: str
    stand: Stand


@dataclass(frozen=True)
class Punctuality:
    """Share and delay (minutes) of on-time, late and early flights.

    Defaults: Edinburgh study (notes, "flight punctuality": 58% on time, 21%
    late with mean 50 min sd 56, 21% early with mean 21 min sd 6).
    """

    late_share: float = 0.21
    late_mean_min: float = 50.0
    late_sd_min: float = 56.0
    early_share: float = 0.21
    early_mean_min: float = 21.0
    early_sd_min: float = 6.0

    def delays_s(self, rng: np.random.Generator, n: int) -> FloatArray:
        """Delay of each of `n` flights in seconds (negative: early)."""
        kind = rng.random(n)
        # Late delays are positive with sd above the mean: lognormal with that mean and sd
        # (a clipped normal would turn a fifth of the late flights into on-time ones).
        late = (
            LogNormal(self.late_mean_min, self.late_sd_min).sample(rng, n)
            if self.late_mean_min > 0 and self.late_sd_min > 0
            else np.full(n, self.late_mean_min)
        )
        early = np.maximum(rng.normal(self.early_mean_min, self.early_sd_min, n), 0.0)
        minutes = np.where(
            kind < self.late_share,
            late,
            np.where(kind < self.late_share + self.early_share, -early, 0.0),
        )
        return minutes * 60.0


@dataclass(frozen=True)
class Deplaning:
    """From on-block to the hall.

    - `per_door_per_min`: 14 travellers a minute per door (notes, Horonjeff).
    - `doors`: doors in use per stand type (assumption: 1 jet bridge, 2 stairs).
    - `door_open_s`: on-block to first traveller out (assumption, 2 min).
    - `walk_s`: door (or coach drop-off) to the hall (assumption: lognormal, mean 7 min).
    - `coach_capacity`, `coach_s`: remote stands (assumption: 60 a coach, ride ~5 min).
    """

    per_door_per_min: float = 14.0
    doors: Mapping[Stand, int] = field(default_factory=lambda: {Stand.CONTACT: 1, Stand.REMOTE: 2})
    door_open_s: float = 120.0
    walk_s: Distribution = field(default_factory=lambda: LogNormal(420.0, 180.0))
    coach_capacity: int = 60
    coach_s: Distribution = field(default_factory=lambda: Normal(300.0, 60.0))

    def hall_times_s(
        self,
        rng: np.random.Generator,
        on_block_s: FloatArray,
        stands: Sequence[Stand],
        counts: IntArray,
    ) -> tuple[FloatArray, IntArray]:
        """Hall arrival time (s, never below 0) and flight index of each traveller, by flight."""
        total = int(counts.sum())
        flight = np.repeat(np.arange(len(counts)), counts)
        starts = np.cumsum(counts) - counts
        position = np.arange(total) - np.repeat(starts, counts)
        doors = np.array([self.doors[s] for s in stands], dtype=float)[flight]
        remote = np.array([s is Stand.REMOTE for s in stands], dtype=bool)[flight]
        out_s = (
            on_block_s[flight]
            + self.door_open_s
            + np.floor(position / doors) * 60.0 / self.per_door_per_min
        )
        walk = self.walk_s.sample(rng, total)
        ride = self.coach_s.sample(rng, total)
        # A coach leaves when its last traveller is aboard; everyone on it shares its ride.
        coach = position // self.coach_capacity
        last = np.minimum((coach + 1) * self.coach_capacity, np.repeat(counts, counts)) - 1
        first = np.repeat(starts, counts) + coach * self.coach_capacity
        coach_out = out_s[np.repeat(starts, counts) + last] + ride[first]
        # The simulated day starts at 00:00: a flight scheduled just after midnight that
        # lands early delivers its travellers at 00:00 rather than the day before.
        return np.maximum(np.where(remote, coach_out, out_s) + walk, 0.0), flight


def _clock_s(text: str) -> float:
    parts = text.strip().split(":")
    if len(parts) == 1:
        seconds = float(parts[0])
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(text)
        return seconds
    if len(parts) not in (2, 3):
        raise ValueError(text)
    h, m, s = (float(p) for p in [*parts, "0"][:3])
    if not (0 <= m < 60 and 0 <= s < 60 and h >= 0):
        raise ValueError(text)
    return h * 3600 + m * 60 + s


SCHEDULE_COLUMNS = ("flight", "scheduled", "seats", "load_factor", "origin", "stand")


def read_schedule(path: Path) -> list[Flight]:
    """Flights from a CSV with columns `flight, scheduled (HH:MM[:SS] or seconds), seats,
    load_factor (0-1), origin, stand (contact|remote)`; raises ArrivalsError naming the line."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ArrivalsError(str(path), str(path), f"cannot open schedule: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in SCHEDULE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ArrivalsError(f"{path.name}", reader.fieldnames, f"missing column {missing[0]!r}")
        flights = [_flight(row, f"{path.name} line {n}") for n, row in enumerate(reader, start=2)]
    if not flights:
        raise ArrivalsError(path.name, 0, "the schedule has no flights")
    return flights


def _flight(row: Mapping[str, str], where: str) -> Flight:
    try:
        scheduled = _clock_s(row["scheduled"])
    except ValueError:
        raise ArrivalsError(
            where, row["scheduled"], "scheduled must be HH:MM[:SS] or seconds"
        ) from None
    try:
        seats = int(row["seats"])
        load = float(row["load_factor"])
    except ValueError:
        raise ArrivalsError(
            where, (row["seats"], row["load_factor"]), "seats and load_factor must be numbers"
        ) from None
    if seats < 0 or not 0.0 <= load <= 1.0 or not math.isfinite(load):
        raise ArrivalsError(where, (seats, load), "seats must be >= 0 and load_factor in [0, 1]")
    try:
        stand = Stand(row["stand"].strip().lower())
    except ValueError:
        raise ArrivalsError(where, row["stand"], "stand must be 'contact' or 'remote'") from None
    return Flight(row["flight"].strip(), scheduled, seats, load, row["origin"].strip(), stand)


def flight_arrivals(
    flights: Sequence[Flight],
    streams: Streams,
    *,
    mix: TravellerMix,
    origin_mixes: Mapping[str, TravellerMix] | None = None,
    punctuality: Punctuality | None = None,
    deplaning: Deplaning | None = None,
    scale: float = 1.0,
) -> Travellers:
    """Travellers of `flights`: seats x `scale` x load factor (binomial), punctuality,
    deplaning and walk; attributes from `mix` or the flight origin's own mix."""
    rng = streams[Source.ARRIVALS]
    punctuality = punctuality or Punctuality()
    deplaning = deplaning or Deplaning()
    seats = np.array([round(f.seats * scale) for f in flights], dtype=np.int64)
    load = np.array([f.load_factor for f in flights])
    counts = rng.binomial(seats, load).astype(np.int64)
    on_block = np.array([f.scheduled_s for f in flights]) + punctuality.delays_s(rng, len(flights))
    hall_s, flight = deplaning.hall_times_s(rng, on_block, [f.stand for f in flights], counts)
    travellers = _draw_by_origin(
        streams, hall_s, flight, [f.origin for f in flights], mix, origin_mixes
    )
    return travellers.sorted()


def _draw_by_origin(
    streams: Streams,
    hall_s: FloatArray,
    flight: IntArray,
    origins: Sequence[str],
    mix: TravellerMix,
    origin_mixes: Mapping[str, TravellerMix] | None,
) -> Travellers:
    base = mix.draw(streams[Source.TRAVELLERS], hall_s, flight)
    if not origin_mixes:
        return base
    origin_of = np.array(origins, dtype=object)[flight]
    rows = np.arange(len(base))
    for origin, own in sorted(origin_mixes.items()):
        mask = origin_of == origin
        if mask.any():
            drawn = own.draw(streams[Source.TRAVELLERS], hall_s, flight)
            rows = np.where(mask, rows + len(base), rows)
            base = Travellers.concat([base, drawn])
    return base.take(rows)


def poisson_arrivals(
    rate_per_s: float, count: int, streams: Streams, *, mix: TravellerMix, scale: float = 1.0
) -> Travellers:
    """`count` travellers in a Poisson stream of `rate_per_s` x `scale` a second, from time 0."""
    rng = streams[Source.ARRIVALS]
    times = np.cumsum(rng.exponential(1.0 / (rate_per_s * scale), count))
    return mix.draw(streams[Source.TRAVELLERS], times, np.full(count, -1, dtype=np.int64))


LOG_COLUMNS = (
    "arrival_s",
    "group",
    "nationality",
    "age",
    "enrolled",
    "document",
    "watchlist",
    "flight",
)


def read_arrival_log(path: Path, streams: Streams, *, mix: TravellerMix) -> Travellers:
    """A recorded arrival log replayed exactly: CSV with `arrival_s` (seconds, HH:MM:SS or
    ISO 8601 timestamps)
    and optionally `group` (national|eea|b5jssk|non_visa|visa), `nationality`, `age`,
    `enrolled`, `document` (TD3|TD1|TD2), `watchlist` (0/1), `flight` (index). Missing
    columns are drawn from `mix`."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            rows = list(reader)
    except OSError as exc:
        raise ArrivalsError(
            str(path), str(path), f"cannot open arrival log: {exc.strerror}"
        ) from None
    if "arrival_s" not in columns:
        raise ArrivalsError(path.name, sorted(columns), "missing column 'arrival_s'")
    unknown = sorted(columns - set(LOG_COLUMNS))
    if unknown:
        raise ArrivalsError(path.name, unknown[0], f"unknown column; expected {LOG_COLUMNS}")
    if not rows:
        raise ArrivalsError(path.name, 0, "the arrival log is empty")
    times = _log_times(rows)
    drawn = mix.draw(streams[Source.TRAVELLERS], times, np.full(len(rows), -1, dtype=np.int64))
    cols = {name: getattr(drawn, name) for name in LOG_COLUMNS if name != "arrival_s"}
    parsers: dict[str, Callable[[str], object]] = {
        "group": lambda v: int(NationalityGroup.from_label(v)),
        "nationality": lambda v: v.strip().upper()[:3],
        "age": int,
        "enrolled": lambda v: _flag(v),
        "document": lambda v: DOCUMENT_TYPES.index(_document(v)),
        "watchlist": lambda v: _flag(v),
        "flight": int,
    }
    for name in columns - {"arrival_s"}:
        cols[name] = np.array(
            [_log_value(r, name, n, parsers[name]) for n, r in enumerate(rows, 2)],
            dtype=cols[name].dtype,
        )
    return Travellers(arrival_s=times, **cols).sorted()


def _log_times(rows: Sequence[Mapping[str, str]]) -> FloatArray:
    """Seconds from midnight: from seconds or HH:MM[:SS] as written, or from ISO 8601
    timestamps (`2026-05-02T06:30:05`) counted from midnight of the earliest date."""
    first = rows[0]["arrival_s"].strip()
    if "T" not in first and first.count("-") < 2:
        return np.array([_log_value(r, "arrival_s", n, _clock_s) for n, r in enumerate(rows, 2)])
    stamps = [_log_value(r, "arrival_s", n, _timestamp) for n, r in enumerate(rows, 2)]
    aware = {s.tzinfo is not None for s in stamps}
    if len(aware) > 1:
        raise ArrivalsError("arrival log", first, "mixes timestamps with and without a time zone")
    midnight = min(stamps).replace(hour=0, minute=0, second=0, microsecond=0)
    return np.array([(s - midnight).total_seconds() for s in stamps])


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(text)
    return value in ("1", "true", "yes")


def _document(text: str) -> object:
    from egate.documents import DocumentType

    return DocumentType(text.strip().upper())


def _log_value(row: Mapping[str, str], name: str, line: int, parse: Callable[[str], T]) -> T:
    try:
        return parse(row[name])
    except (ValueError, KeyError, TypeError):
        raise ArrivalsError(f"arrival log line {line}", row.get(name), f"bad {name}") from None


def synthetic_schedule(rng: np.random.Generator, flights: int = 300) -> list[Flight]:
    """A peak day at a large hub: four arrival waves (long-haul early morning, late
    morning, afternoon, evening), mostly wide-bodies, 80% on contact stands. Used to
    build the demo schedule."""
    waves = rng.choice(4, size=flights, p=[0.3, 0.25, 0.25, 0.2])
    centre_h = np.array([6.5, 10.0, 14.0, 18.5])[waves]
    spread_h = np.array([1.5, 1.8, 1.8, 1.8])[waves]
    hours = np.clip(rng.normal(centre_h, spread_h), 4.0, 23.75)
    seats = rng.choice(
        [180, 220, 300, 350, 450, 550], size=flights, p=[0.1, 0.12, 0.2, 0.25, 0.2, 0.13]
    )
    load = np.round(rng.uniform(0.80, 0.98, flights), 2)
    origins = rng.choice(
        ["JFK", "DXB", "SIN", "HKG", "FRA", "CDG", "DEL", "LAX", "GRU", "JNB"], size=flights
    )
    remote = rng.random(flights) < 0.2
    order = np.argsort(hours, kind="stable")
    return [
        Flight(
            f"EG{100 + k:04d}",
            float(round(hours[i] * 3600 / 60) * 60),
            int(seats[i]),
            float(load[i]),
            str(origins[i]),
            Stand.REMOTE if remote[i] else Stand.CONTACT,
        )
        for k, i in enumerate(order)
    ]


def write_schedule(flights: Sequence[Flight], path: Path) -> None:
    """Write `flights` as a schedule CSV that `read_schedule` reads back."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(SCHEDULE_COLUMNS)
        for f in flights:
            hh, rest = divmod(int(f.scheduled_s), 3600)
            out.writerow(
                [
                    f.name,
                    f"{hh:02d}:{rest // 60:02d}",
                    f.seats,
                    f.load_factor,
                    f.origin,
                    f.stand.value,
                ]
            )


@dataclass(frozen=True)
class FlightSource:
    """Arrivals from a flight schedule."""

    flights: tuple[Flight, ...]
    punctuality: Punctuality = field(default_factory=Punctuality)
    deplaning: Deplaning = field(default_factory=Deplaning)
    origin_mixes: Mapping[str, TravellerMix] = field(default_factory=dict)

    def travellers(self, streams: Streams, mix: TravellerMix, scale: float) -> Travellers:
        return flight_arrivals(
            self.flights,
            streams,
            mix=mix,
            origin_mixes=self.origin_mixes,
            punctuality=self.punctuality,
            deplaning=self.deplaning,
            scale=scale,
        )


@dataclass(frozen=True)
class PoissonSource:
    """A Poisson stream of `count` travellers at `rate_per_s` a second (queueing checks)."""

    rate_per_s: float
    count: int

    def travellers(self, streams: Streams, mix: TravellerMix, scale: float) -> Travellers:
        return poisson_arrivals(self.rate_per_s, self.count, streams, mix=mix, scale=scale)


@dataclass(frozen=True)
class LogSource:
    """A recorded arrival log, replayed exactly (the arrival scale must be 1)."""

    path: Path

    def travellers(self, streams: Streams, mix: TravellerMix, scale: float) -> Travellers:
        return read_arrival_log(self.path, streams, mix=mix)
