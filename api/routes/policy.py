"""Thresholds and gate policy: any operator reads it, an admin changes it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.auth import AdminOperator, AnyPrincipal
from api.deps import ResourcesDep
from api.policy_file import policy_from_json, policy_to_json
from api.schemas.common import PRINTABLE, Strict

router = APIRouter(prefix="/policy", tags=["policy"])

Alpha3 = Annotated[str, Field(min_length=3, max_length=3, pattern=PRINTABLE)]


class PolicyModel(Strict):
    """See `egate.policy.GatePolicy` for each field's meaning and unit."""

    match_threshold: float = Field(
        default=0.6, description="dlib Euclidean distance; match when <="
    )
    max_attempts: int = 3
    capture_timeout_s: float = 10.0
    transaction_timeout_s: float = 60.0
    min_age: int = 12
    eligible_nationalities: list[Alpha3] = Field(default_factory=list, max_length=300)
    enrolled_always_eligible: bool = True
    require_enrolment: bool = False
    require_chip: bool = False
    accepted_formats: list[Annotated[str, Field(max_length=8, pattern=PRINTABLE)]] = Field(
        default_factory=lambda: ["TD1", "TD2", "TD3"], max_length=8
    )


class PolicyPublic(PolicyModel):
    pass


@router.get("", response_model=PolicyPublic)
async def get_policy(principal: AnyPrincipal, resources: ResourcesDep) -> PolicyPublic:
    return PolicyPublic(**policy_to_json(resources.policy.current()))


@router.put("", response_model=PolicyPublic)
async def put_policy(
    body: PolicyModel, admin: AdminOperator, resources: ResourcesDep
) -> PolicyPublic:
    """Replace the policy; values out of range are refused (422 `policy_invalid`)."""
    policy = policy_from_json(body.model_dump())
    await run_in_threadpool(resources.policy.replace, policy)
    return PolicyPublic(**policy_to_json(policy))
