"""The e-gate as a composed service: approach, document and chip read, live capture
with quality retries, 1:1 match, door. Every step has its own distribution; the
outcome of each traveller's transaction is drawn up front, for every traveller,
so that scenarios differing only in gates or staffing see the same transactions.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from egate.gate import ReferralReason
from egate.policy import GatePolicy
from sim.det import DetTable
from sim.distributions import Distribution, Fixed, LogNormal, Normal, Uniform
from sim.rosters import Roster
from sim.streams import Source, Streams
from sim.travellers import (
    DOCUMENT_TYPES,
    BoolArray,
    FloatArray,
    IntArray,
    NationalityGroup,
    Travellers,
)


class GateOutcome(enum.IntEnum):
    """How a gate transaction ends; every outcome but ACCEPT is a referral to an officer."""

    ACCEPT = 0
    DOCUMENT = 1
    WATCHLIST = 2
    CAPTURE_QUALITY = 3
    NO_MATCH = 4
    TIMEOUT = 5

    @property
    def referral(self) -> ReferralReason | None:
        """The gate state machine's referral reason (egate.gate) for this outcome."""
        return None if self is GateOutcome.ACCEPT else ReferralReason[self.name]


@dataclass(frozen=True)
class Outage:
    """`gates` gates of bank `bank` out of service from `start_s` to `end_s`."""

    bank: str
    gates: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class GateBank:
    """Gates side by side, supervised by one officer; closed while the officer is off duty."""

    name: str
    gates: int
    officer: Roster = field(default_factory=lambda: Roster.constant(1))


@dataclass(frozen=True)
class GateSteps:
    """Step durations in seconds. Calibrated so a one-attempt transaction takes about 36 s
    (notes, DRT "e-gate processing time 36 s default"); the chip read is 3 to 15 s
    depending on the issuer (notes, Hansard 2009), overridable per issuing state."""

    approach_s: Distribution = field(default_factory=lambda: Normal(12.0, 3.0))
    read_s: Distribution = field(default_factory=lambda: Uniform(3.0, 15.0))
    read_by_issuer_s: Mapping[str, Distribution] = field(default_factory=dict)
    capture_s: Distribution = field(default_factory=lambda: LogNormal(6.0, 2.0))
    match_s: Distribution = field(default_factory=lambda: Fixed(1.0))
    door_s: Distribution = field(default_factory=lambda: Normal(6.0, 1.5))


@dataclass(frozen=True)
class EGateConfig:
    """e-gates: banks, the gate policy (threshold, attempts, minimum age, enrolment rule),
    eligibility by nationality group, uptake, failure rates and referral priority.

    - `uptake`: eligible travellers who choose the gate (notes, Edinburgh 0.7-0.8).
    - `document_failure`: chip or document not read/verified (assumption, 3%).
    - `fta`: failure to acquire a usable face per capture attempt (assumption, 5%).
    - `referral_priority`: referred travellers served first at the desk (notes, Edinburgh 75%).
    - `mtbf_s`/`mttr_s`: random outages of single gates (None: none).
    """

    banks: tuple[GateBank, ...]
    policy: GatePolicy = field(default_factory=GatePolicy)
    det: DetTable = field(default_factory=DetTable.default)
    eligible_groups: frozenset[NationalityGroup] = frozenset(
        {NationalityGroup.NATIONAL, NationalityGroup.EEA, NationalityGroup.B5JSSK}
    )
    uptake: float = 0.75
    steps: GateSteps = field(default_factory=GateSteps)
    document_failure: float = 0.03
    fta: float = 0.05
    referral_priority: float = 0.75
    outages: tuple[Outage, ...] = ()
    mtbf_s: float | None = None
    mttr_s: float | None = None

    @property
    def gates(self) -> int:
        return sum(b.gates for b in self.banks)

    def eligible(self, t: Travellers) -> BoolArray:
        """Travellers the policy lets use a gate: group (or enrolment), age, document format."""
        policy = self.policy
        groups = np.isin(t.group, [int(g) for g in self.eligible_groups])
        if policy.require_enrolment:
            allowed = t.enrolled.copy()
        elif policy.enrolled_always_eligible:
            allowed = groups | t.enrolled
        else:
            allowed = groups
        formats = [i for i, d in enumerate(DOCUMENT_TYPES) if d.value in policy.accepted_formats]
        return allowed & (t.age >= policy.min_age) & np.isin(t.document, formats)


@dataclass(frozen=True)
class GateTransactions:
    """Per traveller (whether or not they use a gate): service time (s) and outcome."""

    service_s: FloatArray
    outcome: IntArray
    attempts: IntArray


def draw_transactions(
    config: EGateConfig, travellers: Travellers, streams: Streams
) -> GateTransactions:
    """Draw every traveller's gate transaction. Time and outcome follow the gate policy:
    up to `max_attempts` captures, each failing to acquire with `fta` or, when acquired,
    failing to match with the FNMR of the DET table at `match_threshold`; a transaction
    longer than `transaction_timeout_s` ends in TIMEOUT at the deadline."""
    n = len(travellers)
    steps, policy = config.steps, config.policy
    time_rng, bio = streams[Source.GATE_SERVICE], streams[Source.BIOMETRICS]
    _, fnmr = config.det.at(policy.match_threshold)
    approach = steps.approach_s.sample(time_rng, n)
    read = steps.read_s.sample(time_rng, n)
    for issuer, dist in sorted(steps.read_by_issuer_s.items()):
        own = dist.sample(time_rng, n)
        read = np.where(travellers.nationality == issuer, own, read)
    door = steps.door_s.sample(time_rng, n)
    doc_failed = bio.random(n) < config.document_failure
    elapsed = np.zeros(n)  # capture and match time after the document checks
    done = np.zeros(n, dtype=bool)
    attempts = np.zeros(n, dtype=np.int64)
    last_fta = np.zeros(n, dtype=bool)
    for _ in range(policy.max_attempts):
        capture = steps.capture_s.sample(time_rng, n)
        match = steps.match_s.sample(time_rng, n)
        fta = bio.random(n) < config.fta
        no_match = bio.random(n) < fnmr
        active = ~done
        elapsed += np.where(active, capture + np.where(fta, 0.0, match), 0.0)
        attempts += active
        last_fta = np.where(active, fta, last_fta)
        done |= active & ~fta & ~no_match
    outcome = np.where(
        done,
        GateOutcome.ACCEPT,
        np.where(last_fta, GateOutcome.CAPTURE_QUALITY, GateOutcome.NO_MATCH),
    )
    timed_out = (
        (read + elapsed > policy.transaction_timeout_s) & ~doc_failed & ~travellers.watchlist
    )
    outcome = np.where(timed_out, GateOutcome.TIMEOUT, outcome)
    outcome = np.where(travellers.watchlist, GateOutcome.WATCHLIST, outcome)
    outcome = np.where(doc_failed, GateOutcome.DOCUMENT, outcome)
    early = doc_failed | travellers.watchlist
    service = (
        approach
        + np.where(early, read, np.where(timed_out, policy.transaction_timeout_s, read + elapsed))
        + door
    )
    return GateTransactions(
        service_s=service, outcome=outcome.astype(np.int64), attempts=np.where(early, 0, attempts)
    )
