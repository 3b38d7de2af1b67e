"""Scenarios: a YAML or TOML file describing a hall, validated into frozen config.

Every mistake is a `ScenarioError` naming the dotted path of the offending key and
carrying its value: an unknown key (`unknown_key`), a missing one (`missing_key`),
a value out of range such as a negative rate (`invalid_value`), a queue no server
ever staffs or a group no queue accepts (`unserved_queue`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from egate.policy import GatePolicy, PolicyError
from sim.arrivals import (
    ArrivalsError,
    Deplaning,
    FlightSource,
    LogSource,
    PoissonSource,
    Punctuality,
    Stand,
    read_schedule,
)
from sim.desks import DeskConfig, DeskQueue, SecondaryConfig, _drt_desk_times
from sim.det import DetTable
from sim.egates import EGateConfig, GateBank, GateSteps, Outage
from sim.rosters import Roster
from sim.streams import Streams
from sim.travellers import NationalityGroup, TravellerMix, Travellers
from sim.validation import (
    InvalidValue,
    MissingKey,
    ScenarioError,
    Section,
    UnknownKey,
    UnservedQueue,
    clock,
    group,
    groups,
    roster,
)

__all__ = [
    "BUILTIN",
    "ArrivalSource",
    "InvalidValue",
    "MissingKey",
    "Scenario",
    "ScenarioError",
    "ServiceLevel",
    "UnknownKey",
    "UnservedQueue",
    "apply_overrides",
    "builtin_path",
    "load_scenario",
    "parse_scenario",
    "read_mapping",
]

MAX_POISSON_HORIZON_S = 366 * 86_400.0
"""The longest a Poisson arrival stream may last (count / rate), in seconds."""


class ArrivalSource(Protocol):
    def travellers(self, streams: Streams, mix: TravellerMix, scale: float) -> Travellers: ...


@dataclass(frozen=True)
class ServiceLevel:
    """Share of travellers that must wait at most `max_wait_s` (default: Frontex, 95% under
    5 minutes; notes, "service level")."""

    max_wait_s: float = 300.0
    share: float = 0.95


@dataclass(frozen=True)
class Scenario:
    name: str
    arrivals: ArrivalSource
    mix: TravellerMix
    egates: EGateConfig
    desks: DeskConfig
    secondary: SecondaryConfig = field(default_factory=SecondaryConfig)
    hall_capacity: int | None = None
    service_levels: Mapping[str, ServiceLevel] = field(default_factory=dict)
    seed: int = 1
    replications: int = 5
    warmup_s: float = 0.0
    scale: float = 1.0
    source: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")

    @property
    def queues(self) -> tuple[str, ...]:
        """Queue names, in report order."""
        return ("egates", *(q.name for q in self.desks.queues), "secondary")

    def service_level(self, queue: str) -> ServiceLevel:
        return self.service_levels.get(queue, self.service_levels.get("default", ServiceLevel()))


# -- reading -------------------------------------------------------------------


def _mix(sec: Section, base: TravellerMix | None = None) -> TravellerMix:
    base = base or TravellerMix.default()
    groups = dict(base.groups)
    if sec.has("groups"):
        g = sec.section("groups")
        groups = {group(g.key(k), k): g.number(k) for k, _ in list(g.items())}
        if sum(groups.values()) <= 0:
            raise InvalidValue(g.path, groups, "group shares must not all be zero")
    mix = TravellerMix(
        groups=groups,
        child_share=sec.number("child_share", base.child_share, high=1.0),
        id_card_share_eea=sec.number("id_card_share_eea", base.id_card_share_eea, high=1.0),
        enrolled_share=sec.number("enrolled_share", base.enrolled_share, high=1.0),
        watchlist_rate=sec.number("watchlist_rate", base.watchlist_rate, high=1.0),
        home=sec.text("home", base.home),
    )
    return mix


def _arrivals(sec: Section, base_dir: Path, mix: TravellerMix) -> tuple[ArrivalSource, float]:
    scale = sec.number("scale", 1.0, low=0.0, low_open=True)
    kinds = [k for k in ("flights", "poisson", "log", "paxlst") if sec.has(k)]
    if len(kinds) != 1:
        raise InvalidValue(
            sec.path,
            sorted(map(str, sec.data)),
            "give exactly one of flights, poisson, log, paxlst",
        )
    kind = kinds[0]
    src = sec.section(kind)
    source: ArrivalSource
    if kind == "poisson":
        rate = src.number("rate_per_s", low=0.0, low_open=True)
        count = src.number("count", low=1, integer=True)
        # A rate so small that the stream outlasts a year is a typo, and its arrival
        # times overflow to inf (found by the scenario property test).
        if count / (rate * scale) > MAX_POISSON_HORIZON_S:
            raise InvalidValue(
                src.key("rate_per_s"),
                rate,
                f"{count} arrivals at this rate (x scale {scale}) would take more than a year",
            )
        source = PoissonSource(rate, count)
    elif kind == "log":
        if scale != 1.0:
            raise InvalidValue(
                sec.key("scale"),
                scale,
                "a recorded arrival log is replayed exactly: scale must be 1",
            )
        source = LogSource(src.path_value("path", base_dir))
    else:
        punctuality = _punctuality(src.section("punctuality"))
        deplaning = _deplaning(src.section("deplaning"))
        if kind == "flights":
            try:
                flights = tuple(read_schedule(src.path_value("schedule", base_dir)))
            except ArrivalsError as exc:
                raise InvalidValue(src.key("schedule"), exc.value, str(exc)) from None
            origins = src.section("origins")
            origin_mixes = {k: _mix(Section(v, origins.key(k)), mix) for k, v in origins.items()}
            source = FlightSource(flights, punctuality, deplaning, origin_mixes)
        else:
            from sim.manifests import ManifestSource, read_manifests

            if scale != 1.0:
                raise InvalidValue(
                    sec.key("scale"), scale, "PAXLST travellers are real: scale must be 1"
                )
            stand = src.text("stand", "contact")
            try:
                stand_type = Stand(stand)
            except ValueError:
                raise InvalidValue(
                    src.key("stand"), stand, "must be 'contact' or 'remote'"
                ) from None
            sltd = src.path_value("sltd", base_dir) if src.has("sltd") else None
            try:
                manifests = tuple(read_manifests(src.path_value("directory", base_dir)))
            except ArrivalsError as exc:
                raise InvalidValue(src.key("directory"), exc.value, str(exc)) from None
            source = ManifestSource(manifests, stand_type, punctuality, deplaning, sltd)
        for sub in ("punctuality", "deplaning"):
            src.read.add(sub)
    src.close()
    return source, scale


def _punctuality(sec: Section) -> Punctuality:
    d = Punctuality()
    p = Punctuality(
        late_share=sec.number("late_share", d.late_share, high=1.0),
        late_mean_min=sec.number("late_mean_min", d.late_mean_min),
        late_sd_min=sec.number("late_sd_min", d.late_sd_min),
        early_share=sec.number("early_share", d.early_share, high=1.0),
        early_mean_min=sec.number("early_mean_min", d.early_mean_min),
        early_sd_min=sec.number("early_sd_min", d.early_sd_min),
    )
    if p.late_share + p.early_share > 1.0:
        raise InvalidValue(
            sec.path, (p.late_share, p.early_share), "late_share + early_share must be <= 1"
        )
    sec.close()
    return p


def _deplaning(sec: Section) -> Deplaning:
    d = Deplaning()
    doors = dict(d.doors)
    if sec.has("doors"):
        ds = sec.section("doors")
        for stand in Stand:
            doors[stand] = ds.number(stand.value, doors[stand], low=1, integer=True)
        ds.close()
    out = Deplaning(
        per_door_per_min=sec.number("per_door_per_min", d.per_door_per_min, low_open=True),
        doors=doors,
        door_open_s=sec.number("door_open_s", d.door_open_s),
        walk_s=sec.dist("walk_s", d.walk_s),
        coach_capacity=sec.number("coach_capacity", d.coach_capacity, low=1, integer=True),
        coach_s=sec.dist("coach_s", d.coach_s),
    )
    sec.close()
    return out


def _egates(sec: Section, base_dir: Path) -> EGateConfig:
    d = EGateConfig(banks=())
    if sec.has("banks"):
        if sec.has("gates"):
            raise InvalidValue(
                sec.key("gates"), sec.raw("gates"), "give either gates or banks, not both"
            )
        raw = sec.raw("banks")
        if not isinstance(raw, list):
            raise InvalidValue(sec.key("banks"), raw, "must be a list of banks")
        banks = []
        for k, item in enumerate(raw):
            b = Section(item, f"{sec.key('banks')}[{k}]")
            name = b.text("name", f"bank{k + 1}")
            gates = b.number("gates", integer=True)
            officer = roster(b.section("officer")) if b.has("officer") else Roster.constant(1)
            b.close()
            banks.append(GateBank(name, gates, officer))
    else:
        total = sec.number("gates", 0, integer=True)
        size = sec.number("bank_size", 10, low=1, integer=True)
        banks = [
            GateBank(f"bank{k + 1}", min(size, total - k * size))
            for k in range(math.ceil(total / size))
        ]
    names = [b.name for b in banks]
    if len(set(names)) != len(names):
        raise InvalidValue(sec.key("banks"), names, "bank names must be unique")
    try:
        policy = GatePolicy(
            match_threshold=sec.number("threshold", 0.6, low_open=True),
            max_attempts=sec.number("max_attempts", 3, low=1, integer=True),
            transaction_timeout_s=sec.number("transaction_timeout_s", 60.0, low_open=True),
            min_age=sec.number("min_age", 12, integer=True),
            require_enrolment=sec.boolean("require_enrolment", False),
        )
    except PolicyError as exc:
        raise InvalidValue(sec.key(exc.name), exc.value, str(exc)) from None
    det = d.det
    if sec.has("det_table"):
        from sim.det import DetTableError

        try:
            det = DetTable.load(sec.path_value("det_table", base_dir))
        except DetTableError as exc:
            raise InvalidValue(sec.key("det_table"), exc.value, str(exc)) from None
    steps_sec = sec.section("steps")
    ds = d.steps
    by_issuer = steps_sec.section("read_by_issuer_s")
    steps = GateSteps(
        approach_s=steps_sec.dist("approach_s", ds.approach_s),
        read_s=steps_sec.dist("read_s", ds.read_s),
        read_by_issuer_s={k: by_issuer.dist(k, ds.read_s) for k, _ in list(by_issuer.items())},
        capture_s=steps_sec.dist("capture_s", ds.capture_s),
        match_s=steps_sec.dist("match_s", ds.match_s),
        door_s=steps_sec.dist("door_s", ds.door_s),
    )
    steps_sec.close()
    outages = []
    for k, item in enumerate(sec.raw("outages", [])):
        o = Section(item, f"{sec.key('outages')}[{k}]")
        bank = o.text("bank")
        if bank not in names:
            raise InvalidValue(o.key("bank"), bank, f"no such bank; banks are {names}")
        start, end = clock(o.key("start"), o.raw("start")), clock(o.key("end"), o.raw("end"))
        if end <= start:
            raise InvalidValue(o.key("end"), o.raw("end"), "an outage must end after it starts")
        gates = o.number("gates", 1, low=1, integer=True)
        if gates > next(b.gates for b in banks if b.name == bank):
            raise InvalidValue(o.key("gates"), gates, f"bank {bank} has fewer gates")
        o.close()
        outages.append(Outage(bank, gates, start, end))
    mtbf_h = sec.number("mtbf_h", None, low=0.0, low_open=True)
    mttr_min = sec.number("mttr_min", None, low=0.0, low_open=True)
    if (mtbf_h is None) != (mttr_min is None):
        raise InvalidValue(
            sec.key("mttr_min" if mttr_min is None else "mtbf_h"),
            None,
            "mtbf_h and mttr_min go together",
        )
    eligible = (
        groups(sec.key("eligible_groups"), sec.raw("eligible_groups"))
        if sec.has("eligible_groups")
        else d.eligible_groups
    )
    config = EGateConfig(
        banks=tuple(banks),
        policy=policy,
        det=det,
        eligible_groups=eligible,
        uptake=sec.number("uptake", d.uptake, high=1.0),
        steps=steps,
        document_failure=sec.number("document_failure", d.document_failure, high=1.0),
        fta=sec.number("fta", d.fta, high=1.0),
        referral_priority=sec.number("referral_priority", d.referral_priority, high=1.0),
        outages=tuple(outages),
        mtbf_s=None if mtbf_h is None else mtbf_h * 3600.0,
        mttr_s=None if mttr_min is None else mttr_min * 60.0,
    )
    sec.close()
    return config


def _desks(sec: Section) -> DeskConfig:
    times = _drt_desk_times()
    if sec.has("service_s"):
        ss = sec.section("service_s")
        for label, _ in list(ss.items()):
            times[group(ss.key(label), label)] = ss.dist(label, times[NationalityGroup.VISA])
        ss.close()
    queues = []
    if sec.has("queues"):
        if sec.has("staff") or sec.has("roster"):
            raise InvalidValue(
                sec.key("staff"),
                sec.raw("staff", None),
                "give staff/roster inside each queue when queues are listed",
            )
        raw = sec.raw("queues")
        if not isinstance(raw, list) or not raw:
            raise InvalidValue(sec.key("queues"), raw, "must be a non-empty list of desk queues")
        for k, item in enumerate(raw):
            q = Section(item, f"{sec.key('queues')}[{k}]")
            name = q.text("name", f"desks{k + 1}")
            accepted = groups(q.key("groups"), q.raw("groups", "all"))
            queues.append(DeskQueue(name, accepted, roster(q)))
            q.close()
    else:
        queues.append(DeskQueue("desks", frozenset(NationalityGroup), roster(sec)))
    names = [q.name for q in queues]
    if len(set(names)) != len(names) or {"egates", "secondary", "overflow"} & set(names):
        raise InvalidValue(
            sec.key("queues"), names, "queue names must be unique and not egates/secondary/overflow"
        )
    sec.close()
    return DeskConfig(tuple(queues), times)


def _service_levels(sec: Section, queues: tuple[str, ...]) -> dict[str, ServiceLevel]:
    out = {}
    for name, _ in list(sec.items()):
        if name != "default" and name not in queues:
            raise UnknownKey(sec.key(name), name, f"no such queue; queues are {list(queues)}")
        s = Section(sec.data[name], sec.key(name))
        d = ServiceLevel()
        out[name] = ServiceLevel(
            max_wait_s=s.number("max_wait_s", d.max_wait_s),
            share=s.number("share", d.share, high=1.0),
        )
        s.close()
    return out


def _check_served(s: Scenario) -> None:
    """Reject halls where a traveller could arrive in a queue that nobody ever serves."""
    for q in s.desks.queues:
        if q.roster.peak == 0:
            raise UnservedQueue(
                f"desks.{q.name}", q.roster.steps, "no desk is ever staffed for this queue"
            )
        if q.roster.final == 0:
            raise UnservedQueue(
                f"desks.{q.name}",
                q.roster.steps,
                "the roster ends with no staff: travellers still queued would never leave",
            )
    for g in NationalityGroup:
        if s.mix.groups.get(g, 0) > 0 and not any(g in q.groups for q in s.desks.queues):
            raise UnservedQueue(
                "desks.queues", g.label, "no desk queue accepts this nationality group"
            )
    if (
        s.egates.gates > 0
        and s.egates.uptake > 0
        and all(b.officer.peak == 0 for b in s.egates.banks)
    ):
        raise UnservedQueue(
            "egates", [b.name for b in s.egates.banks], "no bank officer is ever on duty"
        )
    if (
        s.egates.gates > 0
        and s.egates.uptake > 0
        and all(b.officer.final == 0 for b in s.egates.banks)
    ):
        raise UnservedQueue(
            "egates",
            [b.name for b in s.egates.banks],
            "every bank closes for good: travellers still queued would never leave",
        )
    if s.mix.watchlist_rate > 0 and s.secondary.roster.final == 0:
        raise UnservedQueue(
            "secondary",
            s.secondary.roster.steps,
            "watchlist hits go to secondary, which ends unstaffed",
        )


TOP_KEYS = (
    "name",
    "seed",
    "replications",
    "warmup_s",
    "arrivals",
    "travellers",
    "egates",
    "desks",
    "secondary",
    "hall",
    "service_levels",
)


def parse_scenario(data: object, base_dir: Path = Path(".")) -> Scenario:
    """Validate a scenario mapping (as read from YAML/TOML); relative paths are under `base_dir`."""
    top = Section(data, "")
    trav = top.section("travellers")
    mix = _mix(trav)
    trav.close()
    arrivals, scale = _arrivals(top.section("arrivals", required=True), base_dir, mix)
    egates = _egates(top.section("egates"), base_dir)
    desks = _desks(top.section("desks", required=True))
    sec = top.section("secondary")
    secondary = SecondaryConfig(
        roster=roster(sec, default=2), service_s=sec.dist("service_s", SecondaryConfig().service_s)
    )
    sec.close()
    hall = top.section("hall")
    capacity = hall.number("capacity", None, low=1, integer=True)
    hall.close()
    queues = ("egates", *(q.name for q in desks.queues), "secondary")
    levels = _service_levels(top.section("service_levels"), queues)
    scenario = Scenario(
        name=top.text("name", "scenario"),
        arrivals=arrivals,
        mix=mix,
        egates=egates,
        desks=desks,
        secondary=secondary,
        hall_capacity=capacity,
        service_levels=levels,
        seed=top.number("seed", 1, integer=True),
        replications=top.number("replications", 5, low=1, integer=True),
        warmup_s=top.number("warmup_s", 0.0),
        scale=scale,
        source=dict(data) if isinstance(data, Mapping) else {},
        base_dir=base_dir,
    )
    top.close()
    _check_served(scenario)
    return scenario


def read_mapping(path: Path) -> dict[str, Any]:
    """The mapping in a .yaml/.yml or .toml file; raises ScenarioError when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), str(path), f"cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(path.name, str(exc).splitlines()[0], "not valid YAML/TOML") from None
    if not isinstance(data, dict):
        raise ScenarioError(path.name, type(data).__name__, "a scenario file must hold a mapping")
    return data


def load_scenario(path: Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario file, applying dotted-path `overrides` first."""
    data = read_mapping(path)
    return parse_scenario(apply_overrides(data, overrides or {}), path.parent)


BUILTIN = ("demo", "mmc")


def builtin_path(name: str) -> Path:
    """The file of a built-in scenario (`demo`: a peak day at a large airport; `mmc`: M/M/10)."""
    if name not in BUILTIN:
        raise ScenarioError(
            "scenario", name, f"no built-in scenario of that name; expected {BUILTIN}"
        )
    return Path(str(resources.files("sim") / "scenarios" / f"{name}.yaml"))


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `data` with each dotted path (`egates.gates`, `desks.queues.0.staff`) set."""
    import copy

    out = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        node: Any = out
        parts = dotted.split(".")
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise InvalidValue(dotted, part, "no such list item")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise InvalidValue(dotted, node, "cannot descend into a value")
    return out
