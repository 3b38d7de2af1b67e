"""Every transition of the gate transaction, its illegal events, deadlines and snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from egate.documents import DocumentType, Sex, TravelDocument
from egate.gate import (
    CaptureFinding,
    CaptureOutcome,
    Decision,
    DocumentFinding,
    Finding,
    GateTransaction,
    IllegalTransition,
    Referral,
    ReferralReason,
    ScreeningFinding,
    State,
    Step,
)
from egate.policy import EligibilityFinding, GatePolicy

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DOC = TravelDocument(
    format=DocumentType.TD3, code="P", issuer="UTO", number="L898902C3", surname="ERIKSSON",
    given_names="ANNA MARIA", nationality="UTO", birth_date=date(1974, 8, 12), sex=Sex.FEMALE,
    expiry_date=date(2032, 4, 15),
)  # fmt: skip


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new(policy: GatePolicy | None = None) -> GateTransaction:
    return GateTransaction("t1", "gate-1", DOC, policy or GatePolicy(), T0)


def capturing(policy: GatePolicy | None = None) -> GateTransaction:
    txn = new(policy)
    assert txn.record_document_check([], at(1)) is State.DOCUMENT_CHECKED
    assert txn.record_screening([], at(2)) is State.SCREENED
    assert txn.record_eligibility([], at(3)) is State.CAPTURING
    return txn


def referral_of(txn: GateTransaction) -> Referral:
    assert txn.outcome is not None
    assert txn.outcome.referral is not None
    return txn.outcome.referral


def trace(txn: GateTransaction) -> list[tuple[str, float, bool]]:
    return [(s.step.value, (s.at - T0).total_seconds(), s.passed) for s in txn.steps]


def test_clean_crossing_is_accepted_with_a_full_trace() -> None:
    txn = capturing()
    assert txn.record_capture(CaptureOutcome(distance=0.41), at(5)) is State.ACCEPTED
    assert trace(txn) == [
        ("document_read", 0, True),
        ("document_check", 1, True),
        ("screening", 2, True),
        ("eligibility", 3, True),
        ("capture", 5, True),
    ]
    assert txn.outcome is not None
    assert txn.outcome.decision is Decision.ACCEPT
    assert txn.outcome.referral is None
    assert txn.steps[-1].distance == 0.41


@pytest.mark.parametrize(
    ("stage", "finding", "reason"),
    [
        (0, Finding(DocumentFinding.EXPIRED, "2020-01-01"), ReferralReason.DOCUMENT),
        (1, Finding(ScreeningFinding.SLTD_HIT, "UTO/L898902C3"), ReferralReason.WATCHLIST),
        (2, Finding(EligibilityFinding.UNDER_MINIMUM_AGE), ReferralReason.ELIGIBILITY),
    ],
)
def test_a_finding_at_any_check_refers_with_its_reason(
    stage: int, finding: Finding, reason: ReferralReason
) -> None:
    txn = new()
    events = [txn.record_document_check, txn.record_screening, txn.record_eligibility]
    for i, event in enumerate(events[: stage + 1]):
        event([finding] if i == stage else [], at(i + 1))
    assert txn.state is State.REFERRED
    referral = referral_of(txn)
    assert txn.outcome is not None
    assert txn.outcome.decision is Decision.REFER
    assert referral.reason is reason
    assert referral.findings == (finding,)
    with pytest.raises(IllegalTransition, match="cannot record a capture in state referred"):
        txn.record_capture(CaptureOutcome(distance=0.1), at(9))


def test_no_match_retries_then_refers_after_max_attempts() -> None:
    txn = capturing(GatePolicy(max_attempts=2))
    assert txn.record_capture(CaptureOutcome(distance=0.75), at(4)) is State.CAPTURING
    assert txn.record_capture(CaptureOutcome(distance=0.71), at(5)) is State.REFERRED
    assert txn.attempts == 2
    referral = referral_of(txn)
    assert referral.reason is ReferralReason.NO_MATCH


def test_poor_quality_then_match_is_accepted_on_the_second_attempt() -> None:
    txn = capturing()
    assert txn.record_capture(CaptureOutcome(("Please step closer",)), at(4)) is State.CAPTURING
    assert txn.record_capture(CaptureOutcome(distance=0.3), at(6)) is State.ACCEPTED
    assert [f.code for s in txn.steps[-2:] for f in s.findings] == [
        CaptureFinding.POOR_QUALITY,
        CaptureFinding.MATCH,
    ]


def test_last_attempt_of_poor_quality_refers_for_capture_quality() -> None:
    txn = capturing(GatePolicy(max_attempts=1))
    txn.record_capture(CaptureOutcome(("One person at a time",)), at(4))
    referral = referral_of(txn)
    assert referral.reason is ReferralReason.CAPTURE_QUALITY
    assert referral.findings[0].detail == "One person at a time"


def test_threshold_is_inclusive() -> None:
    txn = capturing(GatePolicy(match_threshold=0.5))
    assert txn.record_capture(CaptureOutcome(distance=0.5), at(4)) is State.ACCEPTED


@pytest.mark.parametrize("state_index", [0, 1, 2, 3])
def test_abandon_from_every_live_state(state_index: int) -> None:
    txn = new()
    events = [txn.record_document_check, txn.record_screening, txn.record_eligibility]
    for i in range(state_index):
        events[i]([], at(i + 1))
    assert txn.abandon(at(9)) is State.ABANDONED
    referral = referral_of(txn)
    assert referral.reason is ReferralReason.ABANDONED
    with pytest.raises(IllegalTransition, match="cannot abandon in state abandoned"):
        txn.abandon(at(10))


def test_out_of_order_events_are_illegal() -> None:
    txn = new()
    with pytest.raises(IllegalTransition, match="cannot record screening in state document_read"):
        txn.record_screening([], at(1))
    with pytest.raises(IllegalTransition, match="cannot record a capture in state document_read"):
        txn.record_capture(CaptureOutcome(distance=0.1), at(1))
    txn.record_document_check([], at(1))
    with pytest.raises(IllegalTransition, match="cannot record document_check"):
        txn.record_document_check([], at(2))


def test_capture_after_the_capture_deadline_times_out() -> None:
    txn = capturing(GatePolicy(capture_timeout_s=10))
    assert txn.record_capture(CaptureOutcome(distance=0.2), at(3 + 10.5)) is State.TIMED_OUT
    assert trace(txn)[-1] == ("timeout", 13.5, False)
    referral = referral_of(txn)
    assert referral.reason is ReferralReason.TIMEOUT


def test_expire_ends_a_forgotten_transaction_only_after_its_deadline() -> None:
    txn = new(GatePolicy(transaction_timeout_s=60))
    assert txn.expire(at(60)) is False
    assert txn.state is State.DOCUMENT_READ
    assert txn.expire(at(61)) is True
    assert referral_of(txn).reason is ReferralReason.TIMEOUT
    assert txn.expire(at(99)) is False  # already ended: nothing more is recorded
    assert [s.step for s in txn.steps].count(Step.TIMEOUT) == 1


def test_system_error_refers_and_keeps_the_detail() -> None:
    txn = capturing()
    assert txn.fail("embedder unavailable", at(4)) is State.REFERRED
    referral = referral_of(txn)
    assert referral.reason is ReferralReason.SYSTEM_ERROR
    assert txn.steps[-1].note == "embedder unavailable"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        GateTransaction("t", "g", DOC, GatePolicy(), datetime(2026, 1, 1))


def test_usable_capture_needs_a_distance() -> None:
    with pytest.raises(ValueError, match="needs a distance"):
        CaptureOutcome()


outcomes = st.one_of(
    st.builds(CaptureOutcome, distance=st.floats(0, 1.5, allow_nan=False)),
    st.builds(CaptureOutcome, quality_issues=st.just(("Please step closer",))),
)


@given(st.lists(outcomes, min_size=1, max_size=6), st.integers(1, 4))
def test_any_capture_sequence_ends_within_max_attempts_and_round_trips(
    captures: list[CaptureOutcome], max_attempts: int
) -> None:
    policy = GatePolicy(max_attempts=max_attempts)
    txn = capturing(policy)
    for i, outcome in enumerate(captures):
        if txn.state.terminal:
            with pytest.raises(IllegalTransition):
                txn.record_capture(outcome, at(4 + i * 0.1))
            continue
        txn.record_capture(outcome, at(4 + i * 0.1))
    assert txn.attempts <= max_attempts
    if txn.state is State.CAPTURING:
        assert txn.attempts < max_attempts
    else:
        assert txn.outcome is not None
        assert (txn.outcome.decision is Decision.ACCEPT) == (txn.state is State.ACCEPTED)
    restored = GateTransaction.from_json(txn.as_json(), policy)
    assert restored == txn


def test_a_face_watchlist_hit_refers_at_once_even_on_a_match() -> None:
    txn = capturing()
    outcome = CaptureOutcome(distance=0.2, watchlist_hits=("W-17",))
    assert txn.record_capture(outcome, at(4)) is State.REFERRED
    referral = referral_of(txn)
    assert referral.reason is ReferralReason.WATCHLIST
    assert referral.findings == (Finding(ScreeningFinding.FACE_WATCHLIST_HIT, "W-17"),)
    assert txn.attempts == 1
