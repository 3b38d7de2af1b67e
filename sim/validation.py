"""Reading scenario mappings: typed getters with ranges over a YAML/TOML mapping,
and the errors that name the dotted path of the offending key and carry its value."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sim import SimError
from sim.arrivals import _clock_s
from sim.distributions import Distribution, DistributionError, parse_distribution
from sim.rosters import Roster
from sim.travellers import NationalityGroup


class ScenarioError(SimError):
    """A scenario that cannot run; `path` is the dotted key, `value` what was found there."""

    code = "invalid_scenario"

    def __init__(self, path: str, value: object, reason: str) -> None:
        self.path = path
        self.value = value
        self.reason = reason
        super().__init__(f"{path or 'scenario'}: {reason} (got {value!r})")


class UnknownKey(ScenarioError):
    code = "unknown_key"


class MissingKey(ScenarioError):
    code = "missing_key"


class InvalidValue(ScenarioError):
    code = "invalid_value"


class UnservedQueue(ScenarioError):
    code = "unserved_queue"


class Section:
    """A mapping being read: typed getters with ranges; `close()` rejects unread keys."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise InvalidValue(path, data, "expected a mapping")
        self.data, self.path = data, path
        self.read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = ...) -> Any:
        self.read.add(name)
        if name not in self.data:
            if default is ...:
                raise MissingKey(self.key(name), None, "required key is missing")
            return default
        return self.data[name]

    def section(self, name: str, *, required: bool = False) -> Section:
        return Section(self.raw(name, ... if required else {}), self.key(name))

    def number(
        self,
        name: str,
        default: Any = ...,
        *,
        low: float = 0.0,
        high: float = math.inf,
        low_open: bool = False,
        integer: bool = False,
    ) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
        ):
            raise InvalidValue(
                self.key(name), value, f"must be {'an integer' if integer else 'a number'}"
            )
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
            bound = f"{'>' if low_open else '>='} {low}" + (
                f" and <= {high}" if high < math.inf else ""
            )
            raise InvalidValue(self.key(name), value, f"must be {bound}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise InvalidValue(self.key(name), value, "must be true or false")
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str):
            raise InvalidValue(self.key(name), value, "must be a string")
        return value

    def dist(self, name: str, default: Distribution) -> Distribution:
        if name not in self.data:
            self.read.add(name)
            return default
        try:
            return parse_distribution(self.raw(name))
        except DistributionError as exc:
            raise InvalidValue(self.key(name), exc.value, exc.reason) from None

    def path_value(self, name: str, base: Path) -> Path:
        value = self.text(name)
        path = Path(value)
        return path if path.is_absolute() else base / path

    def close(self) -> None:
        extra = sorted(set(map(str, self.data)) - self.read)
        if extra:
            raise UnknownKey(self.key(extra[0]), self.data[extra[0]], "unknown key")

    def items(self) -> Iterator[tuple[str, Any]]:
        for k in list(self.data):
            self.read.add(k)
            yield str(k), self.data[k]


def group(path: str, label: object) -> NationalityGroup:
    try:
        return NationalityGroup.from_label(str(label))
    except KeyError:
        choices = [g.label for g in NationalityGroup]
        raise InvalidValue(
            path, label, f"unknown nationality group; expected one of {choices}"
        ) from None


def groups(path: str, value: object) -> frozenset[NationalityGroup]:
    if value == "all" or value == ["all"]:
        return frozenset(NationalityGroup)
    if not isinstance(value, list) or not value:
        raise InvalidValue(path, value, "must be 'all' or a non-empty list of nationality groups")
    return frozenset(group(f"{path}[{k}]", v) for k, v in enumerate(value))


def clock(path: str, value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    if isinstance(value, str):
        try:
            return _clock_s(value)
        except ValueError:
            pass
    raise InvalidValue(path, value, "must be seconds >= 0 or HH:MM[:SS]")


def roster(sec: Section, *, staff_key: str = "staff", default: int | None = None) -> Roster:
    if sec.has("roster"):
        if sec.has(staff_key):
            raise InvalidValue(
                sec.key(staff_key), sec.raw(staff_key), "give either staff or roster, not both"
            )
        raw = sec.raw("roster")
        where = sec.key("roster")
        if not isinstance(raw, list) or not raw:
            raise InvalidValue(where, raw, "must be a non-empty list of [time, count] pairs")
        steps = []
        for k, pair in enumerate(raw):
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise InvalidValue(f"{where}[{k}]", pair, "must be a [time, count] pair")
            count = pair[1]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidValue(f"{where}[{k}]", count, "count must be an integer >= 0")
            steps.append((clock(f"{where}[{k}]", pair[0]), count))
        times = [t for t, _ in steps]
        if times != sorted(times) or len(set(times)) != len(times):
            raise InvalidValue(where, times, "times must be strictly increasing")
        if steps[0][0] != 0.0:
            steps.insert(0, (0.0, 0))
        return Roster(tuple(steps))
    return Roster.constant(
        sec.number(staff_key, default if default is not None else ..., integer=True)
    )
