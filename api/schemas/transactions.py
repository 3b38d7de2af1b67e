"""Gate transactions: open with the document, live captures, the decision."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Base64Bytes, BaseModel, Field

from api.schemas.common import Base64Image, Strict
from egate.gate import Decision, GateTransaction, ReferralReason, State


class TransactionOpen(Strict):
    """What the gate's document reader delivered."""

    mrz: Annotated[
        str,
        Field(min_length=1, max_length=200, description="printed MRZ, lines separated by newlines"),
    ]
    dg1: Base64Bytes | None = Field(default=None, description="chip DG1, base64")
    dg2: Base64Bytes | None = Field(default=None, description="chip DG2 (portrait), base64")
    sod: Base64Bytes | None = Field(
        default=None, description="chip Document Security Object, base64"
    )
    portrait: Base64Image | None = Field(
        default=None, description="the chip portrait already extracted from DG2 (JPEG/JPEG 2000)"
    )


class CaptureJson(Strict):
    image: Base64Image


class DocumentPublic(BaseModel):
    format: str
    issuer: str
    number: str
    nationality: str
    birth_date: date
    expiry_date: date


class FindingPublic(BaseModel):
    code: str
    detail: str = ""


class ReferralPublic(BaseModel):
    reason: ReferralReason
    findings: list[FindingPublic]


class StepPublic(BaseModel):
    step: str
    at: datetime
    passed: bool
    findings: list[FindingPublic]
    distance: float | None = None
    note: str = ""


class TransactionPublic(BaseModel):
    id: str
    gate_id: str
    state: State
    decision: Decision | None
    referral: ReferralPublic | None
    attempts: int
    max_attempts: int
    opened_at: datetime
    decided_at: datetime | None
    steps: list[StepPublic]

    @classmethod
    def of(cls, txn: GateTransaction) -> TransactionPublic:
        outcome = txn.outcome
        referral = None
        if outcome is not None and outcome.referral is not None:
            referral = ReferralPublic(
                reason=outcome.referral.reason,
                findings=[FindingPublic(**f.as_json()) for f in outcome.referral.findings],
            )
        return cls(
            id=txn.transaction_id,
            gate_id=txn.gate_id,
            state=txn.state,
            decision=outcome.decision if outcome else None,
            referral=referral,
            attempts=txn.attempts,
            max_attempts=txn.policy.max_attempts,
            opened_at=txn.opened_at,
            decided_at=outcome.decided_at if outcome else None,
            steps=[StepPublic(**_step(s.as_json())) for s in txn.steps],
        )


def _step(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "findings": [FindingPublic(**f) for f in data["findings"]]}


class CaptureResult(BaseModel):
    """One live capture: problems the gate can show the traveller, and the distance."""

    quality_issues: list[str]
    distance: float | None


class CaptureResponse(BaseModel):
    capture: CaptureResult
    transaction: TransactionPublic
