"""What a gate lets through: thresholds, attempt limits, timeouts and eligibility.

Figures cite `shared/notes/border-standards.md` (the "notes") where they come from one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from egate import EgateError
from egate.documents import TravelDocument


class PolicyError(EgateError):
    """A gate policy value is out of its range."""

    code = "policy_invalid"

    def __init__(self, name: str, value: object, why: str) -> None:
        super().__init__(f"gate policy {name}={value!r}: {why}")
        self.name = name
        self.value = value


class EligibilityFinding(enum.Enum):
    """Why a traveller may not use the gate (they go to a staffed desk)."""

    UNDER_MINIMUM_AGE = "under_minimum_age"
    NATIONALITY_NOT_ELIGIBLE = "nationality_not_eligible"
    NOT_ENROLLED = "not_enrolled"
    DOCUMENT_FORMAT_NOT_ACCEPTED = "document_format_not_accepted"


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """The operator's configuration of a gate, one frozen value shared by every transaction.

    - `match_threshold`: dlib Euclidean distance at or below which live and reference
      faces match; 0.6 is dlib's operating point (99.38% on LFW, notes "Biometric
      performance"). Lower is stricter (fewer false matches, more referrals).
    - `max_attempts`: live captures before the traveller is referred to an officer.
    - `capture_timeout_s`: seconds from the end of the document checks to a decision;
      BSI TR-03121-3 requires capture to finish within 10 s (notes).
    - `transaction_timeout_s`: seconds from the document read to a decision, after
      which an unfinished transaction ends TIMED_OUT.
    - `min_age`: travellers younger than this (whole years on the day) go to a desk.
    - `eligible_nationalities`: ISO 3166 alpha-3 codes allowed to use the gate
      without enrolment; empty means every nationality.
    - `enrolled_always_eligible`: an enrolled traveller may use the gate whatever the
      nationality rule says (registered-traveller programmes).
    - `require_enrolment`: only enrolled travellers may use the gate.
    - `require_chip`: refuse documents whose chip was not read and verified.
    """

    match_threshold: float = 0.6
    max_attempts: int = 3
    capture_timeout_s: float = 10.0
    transaction_timeout_s: float = 60.0
    min_age: int = 12
    eligible_nationalities: frozenset[str] = field(default_factory=frozenset)
    enrolled_always_eligible: bool = True
    require_enrolment: bool = False
    require_chip: bool = False
    accepted_formats: frozenset[str] = frozenset({"TD1", "TD2", "TD3"})

    def __post_init__(self) -> None:
        if not 0.0 < self.match_threshold < 2.0:
            raise PolicyError("match_threshold", self.match_threshold, "must be in (0, 2)")
        if self.max_attempts < 1:
            raise PolicyError("max_attempts", self.max_attempts, "must be at least 1")
        for name in ("capture_timeout_s", "transaction_timeout_s"):
            if getattr(self, name) <= 0:
                raise PolicyError(name, getattr(self, name), "must be positive seconds")
        if self.min_age < 0:
            raise PolicyError("min_age", self.min_age, "must not be negative")
        bad = sorted(n for n in self.eligible_nationalities if len(n) != 3)
        if bad:
            raise PolicyError("eligible_nationalities", bad, "codes must have 3 characters")


def eligibility_findings(
    policy: GatePolicy, document: TravelDocument, *, enrolled: bool, today: date
) -> tuple[EligibilityFinding, ...]:
    """Every reason `document`'s holder may not use the gate on `today`; empty when eligible."""
    findings: list[EligibilityFinding] = []
    if document.format.value not in policy.accepted_formats:
        findings.append(EligibilityFinding.DOCUMENT_FORMAT_NOT_ACCEPTED)
    if document.age_on(today) < policy.min_age:
        findings.append(EligibilityFinding.UNDER_MINIMUM_AGE)
    if policy.require_enrolment and not enrolled:
        findings.append(EligibilityFinding.NOT_ENROLLED)
    nationality_ok = (
        not policy.eligible_nationalities
        or document.nationality in policy.eligible_nationalities
        or (enrolled and policy.enrolled_always_eligible)
    )
    if not nationality_ok:
        findings.append(EligibilityFinding.NATIONALITY_NOT_ELIGIBLE)
    return tuple(findings)
