"""The gate transaction: a state machine from the document read to a decision.

```
DOCUMENT_READ ─check─► DOCUMENT_CHECKED ─screen─► SCREENED ─eligibility─► CAPTURING
      │                      │                        │                     │  ▲ retry
      └──────────────────────┴────────────────────────┴─► REFERRED ◄────────┤  │
                                                                            ├──┘
   any live state ─abandon─► ABANDONED     any live state, past a deadline ─► TIMED_OUT
   any live state ─fail─► REFERRED(SYSTEM_ERROR)                 CAPTURING ─match─► ACCEPTED
```

The machine holds no I/O: callers run the checks (see `egate.crossing`) and feed it
their findings with the time they were made. Every event appends a `StepRecord`, so a
finished transaction carries its own explanation; every terminal state has an
`Outcome`, and a referral always names its reason.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from egate import EgateError
from egate.documents import TravelDocument
from egate.policy import EligibilityFinding, GatePolicy


class State(enum.Enum):
    DOCUMENT_READ = "document_read"
    DOCUMENT_CHECKED = "document_checked"
    SCREENED = "screened"
    CAPTURING = "capturing"
    ACCEPTED = "accepted"
    REFERRED = "referred"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({State.ACCEPTED, State.REFERRED, State.ABANDONED, State.TIMED_OUT})


class Decision(enum.Enum):
    ACCEPT = "accept"  # open the exit door
    REFER = "refer"  # send the traveller to an officer


class ReferralReason(enum.Enum):
    DOCUMENT = "document"
    WATCHLIST = "watchlist"
    ELIGIBILITY = "eligibility"
    CAPTURE_QUALITY = "capture_quality"
    NO_MATCH = "no_match"
    SYSTEM_ERROR = "system_error"
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"


class Step(enum.Enum):
    DOCUMENT_READ = "document_read"
    DOCUMENT_CHECK = "document_check"
    SCREENING = "screening"
    ELIGIBILITY = "eligibility"
    CAPTURE = "capture"
    ABANDON = "abandon"
    TIMEOUT = "timeout"
    SYSTEM_ERROR = "system_error"


class DocumentFinding(enum.Enum):
    EXPIRED = "document_expired"
    CHIP_NOT_READ = "chip_not_read"
    CHIP_INVALID = "chip_invalid"  # passive authentication failed
    DG1_MRZ_MISMATCH = "dg1_mrz_mismatch"
    CHIP_PORTRAIT_UNUSABLE = "chip_portrait_unusable"


class ScreeningFinding(enum.Enum):
    SLTD_HIT = "sltd_hit"  # stolen or lost travel document
    PERSON_WATCHLIST_HIT = "person_watchlist_hit"
    FACE_WATCHLIST_HIT = "face_watchlist_hit"
    NOT_ON_MANIFEST = "not_on_manifest"


class CaptureFinding(enum.Enum):
    POOR_QUALITY = "poor_quality"  # includes no face and several faces
    NO_MATCH = "no_match"
    MATCH = "match"


FindingCode = DocumentFinding | ScreeningFinding | EligibilityFinding | CaptureFinding
_FINDING_ENUMS: tuple[type[enum.Enum], ...] = (
    DocumentFinding,
    ScreeningFinding,
    EligibilityFinding,
    CaptureFinding,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation of a check; `detail` is for the officer, not for the traveller."""

    code: FindingCode
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"code": self.code.value, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Finding:
        return cls(_finding_code(data["code"]), data.get("detail", ""))


def _finding_code(value: str) -> FindingCode:
    for kind in _FINDING_ENUMS:
        try:
            return kind(value)  # type: ignore[return-value]
        except ValueError:
            continue
    raise ValueError(f"unknown finding code {value!r}")


@dataclass(frozen=True, slots=True)
class CaptureOutcome:
    """What one live capture gave: the quality problems (messages a gate can show the
    traveller; empty when the capture is usable), for a usable capture the smallest
    Euclidean distance to the references (chip portrait, enrolled template), and the
    face-watchlist entries the live face matched (any hit refers at once)."""

    quality_issues: tuple[str, ...] = ()
    distance: float | None = None
    watchlist_hits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.quality_issues and self.distance is None:
            raise ValueError("a usable capture needs a distance")


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: Step
    at: datetime
    passed: bool
    findings: tuple[Finding, ...] = ()
    distance: float | None = None
    note: str = ""  # free text for the officer, e.g. the system error

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "at": self.at.isoformat(),
            "passed": self.passed,
            "findings": [f.as_json() for f in self.findings],
            "distance": self.distance,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        return cls(
            Step(data["step"]),
            datetime.fromisoformat(data["at"]),
            bool(data["passed"]),
            tuple(Finding.from_json(f) for f in data.get("findings", ())),
            data.get("distance"),
            data.get("note", ""),
        )


@dataclass(frozen=True, slots=True)
class Referral:
    reason: ReferralReason
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    referral: Referral | None
    decided_at: datetime


class IllegalTransition(EgateError):
    """An event arrived in a state that does not accept it."""

    code = "illegal_transition"

    def __init__(self, transaction_id: str, state: State, event: str) -> None:
        super().__init__(f"transaction {transaction_id}: cannot {event} in state {state.value}")
        self.transaction_id = transaction_id
        self.state = state
        self.event = event


@dataclass
class GateTransaction:
    """One traveller's crossing attempt at one gate.

    Times are timezone-aware datetimes supplied by the caller (the machine never reads
    a clock, so replays and tests are exact). Deadlines: `policy.transaction_timeout_s`
    from `opened_at`, and `policy.capture_timeout_s` from entering CAPTURING.
    """

    transaction_id: str
    gate_id: str
    document: TravelDocument
    policy: GatePolicy
    opened_at: datetime
    state: State = State.DOCUMENT_READ
    steps: list[StepRecord] = field(default_factory=list)
    attempts: int = 0
    capture_started_at: datetime | None = None
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        if self.opened_at.tzinfo is None:
            raise ValueError("opened_at must be timezone-aware")
        if not self.steps:
            self.steps.append(StepRecord(Step.DOCUMENT_READ, self.opened_at, True))

    @property
    def deadline(self) -> datetime:
        """The time after which the transaction can only end TIMED_OUT."""
        overall = self.opened_at + timedelta(seconds=self.policy.transaction_timeout_s)
        if self.capture_started_at is None:
            return overall
        capture = self.capture_started_at + timedelta(seconds=self.policy.capture_timeout_s)
        return min(overall, capture)

    # -- events ---------------------------------------------------------------------

    def record_document_check(self, findings: Sequence[Finding], at: datetime) -> State:
        """Document checks done (expiry, chip, DG1 == MRZ); any finding refers."""
        return self._check(
            Step.DOCUMENT_CHECK, State.DOCUMENT_READ, State.DOCUMENT_CHECKED,
            ReferralReason.DOCUMENT, findings, at,
        )  # fmt: skip

    def record_screening(self, findings: Sequence[Finding], at: datetime) -> State:
        """APIS and watchlist checks done; any finding refers."""
        return self._check(
            Step.SCREENING, State.DOCUMENT_CHECKED, State.SCREENED,
            ReferralReason.WATCHLIST, findings, at,
        )  # fmt: skip

    def record_eligibility(self, findings: Sequence[Finding], at: datetime) -> State:
        """Eligibility assessed; an eligible traveller moves on to capture."""
        state = self._check(
            Step.ELIGIBILITY, State.SCREENED, State.CAPTURING,
            ReferralReason.ELIGIBILITY, findings, at,
        )  # fmt: skip
        if state is State.CAPTURING:
            self.capture_started_at = at
        return state

    def record_capture(self, outcome: CaptureOutcome, at: datetime) -> State:
        """One live capture: accept on a match, refer after `policy.max_attempts`."""
        if self._expire_if_late(at):
            return self.state
        self._require(State.CAPTURING, "record a capture")
        self.attempts += 1
        if outcome.watchlist_hits:
            hits = ", ".join(outcome.watchlist_hits)
            finding = Finding(ScreeningFinding.FACE_WATCHLIST_HIT, hits)
            self.steps.append(StepRecord(Step.CAPTURE, at, False, (finding,), outcome.distance))
            return self._decide(State.REFERRED, Referral(ReferralReason.WATCHLIST, (finding,)), at)
        if outcome.quality_issues:
            finding = Finding(CaptureFinding.POOR_QUALITY, "; ".join(outcome.quality_issues))
            reason = ReferralReason.CAPTURE_QUALITY
        elif outcome.distance is not None and outcome.distance <= self.policy.match_threshold:
            finding = Finding(CaptureFinding.MATCH)
            self.steps.append(StepRecord(Step.CAPTURE, at, True, (finding,), outcome.distance))
            return self._decide(State.ACCEPTED, None, at)
        else:
            finding = Finding(CaptureFinding.NO_MATCH)
            reason = ReferralReason.NO_MATCH
        self.steps.append(StepRecord(Step.CAPTURE, at, False, (finding,), outcome.distance))
        if self.attempts >= self.policy.max_attempts:
            return self._decide(State.REFERRED, Referral(reason, (finding,)), at)
        return self.state

    def abandon(self, at: datetime) -> State:
        """The gate reports that the traveller left (or the client gave up)."""
        self._require_live("abandon")
        self.steps.append(StepRecord(Step.ABANDON, at, False))
        return self._decide(State.ABANDONED, Referral(ReferralReason.ABANDONED), at)

    def expire(self, at: datetime) -> bool:
        """End the transaction TIMED_OUT when `at` is past its deadline; True if it did."""
        return self._expire_if_late(at)

    def fail(self, detail: str, at: datetime) -> State:
        """A system error (a service down, a model failing) refers the traveller."""
        self._require_live("fail")
        self.steps.append(StepRecord(Step.SYSTEM_ERROR, at, False, note=detail))
        return self._decide(State.REFERRED, Referral(ReferralReason.SYSTEM_ERROR), at)

    # -- persistence ----------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        """Everything but the policy: a JSON-ready snapshot to store between requests."""
        outcome = self.outcome
        return {
            "transaction_id": self.transaction_id,
            "gate_id": self.gate_id,
            "document": self.document.as_json(),
            "opened_at": self.opened_at.isoformat(),
            "state": self.state.value,
            "steps": [s.as_json() for s in self.steps],
            "attempts": self.attempts,
            "capture_started_at": _iso(self.capture_started_at),
            "decision": outcome.decision.value if outcome else None,
            "referral_reason": (
                outcome.referral.reason.value if outcome and outcome.referral else None
            ),
            "referral_findings": (
                [f.as_json() for f in outcome.referral.findings]
                if outcome and outcome.referral
                else []
            ),
            "decided_at": _iso(outcome.decided_at) if outcome else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], policy: GatePolicy) -> GateTransaction:
        """Rebuild a transaction stored with `as_json`, under the gate's current policy."""
        outcome = None
        if data["decision"] is not None:
            referral = None
            if data["referral_reason"] is not None:
                findings = tuple(Finding.from_json(f) for f in data["referral_findings"])
                referral = Referral(ReferralReason(data["referral_reason"]), findings)
            decided_at = datetime.fromisoformat(data["decided_at"])
            outcome = Outcome(Decision(data["decision"]), referral, decided_at)
        started = data["capture_started_at"]
        return cls(
            transaction_id=data["transaction_id"],
            gate_id=data["gate_id"],
            document=TravelDocument.from_json(data["document"]),
            policy=policy,
            opened_at=datetime.fromisoformat(data["opened_at"]),
            state=State(data["state"]),
            steps=[StepRecord.from_json(s) for s in data["steps"]],
            attempts=int(data["attempts"]),
            capture_started_at=datetime.fromisoformat(started) if started else None,
            outcome=outcome,
        )

    # -- internals ------------------------------------------------------------------

    def _check(
        self,
        step: Step,
        expected: State,
        next_state: State,
        reason: ReferralReason,
        findings: Sequence[Finding],
        at: datetime,
    ) -> State:
        if self._expire_if_late(at):
            return self.state
        self._require(expected, f"record {step.value}")
        found = tuple(findings)
        self.steps.append(StepRecord(step, at, not found, found))
        if found:
            return self._decide(State.REFERRED, Referral(reason, found), at)
        self.state = next_state
        return self.state

    def _expire_if_late(self, at: datetime) -> bool:
        if self.state.terminal or at <= self.deadline:
            return False
        self.steps.append(StepRecord(Step.TIMEOUT, at, False))
        self._decide(State.TIMED_OUT, Referral(ReferralReason.TIMEOUT), at)
        return True

    def _require(self, expected: State, event: str) -> None:
        if self.state is not expected:
            raise IllegalTransition(self.transaction_id, self.state, event)

    def _require_live(self, event: str) -> None:
        if self.state.terminal:
            raise IllegalTransition(self.transaction_id, self.state, event)

    def _decide(self, state: State, referral: Referral | None, at: datetime) -> State:
        self.state = state
        decision = Decision.ACCEPT if state is State.ACCEPTED else Decision.REFER
        self.outcome = Outcome(decision, referral, at)
        return state


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
