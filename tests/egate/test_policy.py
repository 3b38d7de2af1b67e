"""Gate policy validation and the eligibility rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from egate.documents import DocumentType, Sex, TravelDocument
from egate.policy import EligibilityFinding, GatePolicy, PolicyError, eligibility_findings

ADULT = TravelDocument(
    format=DocumentType.TD3, code="P", issuer="GBR", number="123456789", surname="DOE",
    given_names="JANE", nationality="GBR", birth_date=date(1990, 5, 17), sex=Sex.FEMALE,
    expiry_date=date(2030, 1, 1),
)  # fmt: skip
TODAY = date(2026, 11, 21)


def test_default_policy_admits_an_adult_of_any_nationality() -> None:
    assert eligibility_findings(GatePolicy(), ADULT, enrolled=False, today=TODAY) == ()


def test_minimum_age_counts_whole_years_on_the_day() -> None:
    child = replace(ADULT, birth_date=date(2014, 11, 22))  # 12 tomorrow
    found = eligibility_findings(GatePolicy(min_age=12), child, enrolled=False, today=TODAY)
    assert found == (EligibilityFinding.UNDER_MINIMUM_AGE,)
    birthday = replace(ADULT, birth_date=date(2014, 11, 21))
    assert eligibility_findings(GatePolicy(min_age=12), birthday, enrolled=False, today=TODAY) == ()


def test_nationality_rule_and_enrolment_override() -> None:
    policy = GatePolicy(eligible_nationalities=frozenset({"FRA", "DEU"}))
    assert eligibility_findings(policy, ADULT, enrolled=False, today=TODAY) == (
        EligibilityFinding.NATIONALITY_NOT_ELIGIBLE,
    )
    assert eligibility_findings(policy, ADULT, enrolled=True, today=TODAY) == ()
    strict = replace(policy, enrolled_always_eligible=False)
    assert eligibility_findings(strict, ADULT, enrolled=True, today=TODAY) == (
        EligibilityFinding.NATIONALITY_NOT_ELIGIBLE,
    )


def test_required_enrolment_and_document_format() -> None:
    policy = GatePolicy(require_enrolment=True, accepted_formats=frozenset({"TD1"}))
    assert eligibility_findings(policy, ADULT, enrolled=False, today=TODAY) == (
        EligibilityFinding.DOCUMENT_FORMAT_NOT_ACCEPTED,
        EligibilityFinding.NOT_ENROLLED,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("match_threshold", 0.0, "match_threshold=0.0: must be in"),
        ("max_attempts", 0, "max_attempts=0: must be at least 1"),
        ("capture_timeout_s", -1.0, "capture_timeout_s=-1.0: must be positive"),
        ("min_age", -3, "min_age=-3"),
        ("eligible_nationalities", frozenset({"GB"}), "codes must have 3 characters"),
    ],
)
def test_bad_policy_values_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        GatePolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.name == field
