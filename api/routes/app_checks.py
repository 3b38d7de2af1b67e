"""Interactive advance passenger processing (role watchlist): a board / no-board
answer for one traveller at check-in."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import WatchlistOperator
from api.deps import ResourcesDep
from api.resources import utc_now
from api.schemas.common import Strict
from egate.app import AppRules, AppVerdict, check_traveller
from egate.mrz import parse_mrz

router = APIRouter(prefix="/app-checks", tags=["advance passenger processing"])


class AppCheckRequest(Strict):
    mrz: Annotated[str, Field(min_length=1, max_length=200)]
    arrival: date | None = Field(default=None, description="arrival date (default today)")


class ReasonPublic(BaseModel):
    code: str
    detail: str


class AppCheckResult(BaseModel):
    verdict: AppVerdict
    reasons: list[ReasonPublic]


@router.post("", response_model=AppCheckResult)
async def app_check(
    body: AppCheckRequest, operator: WatchlistOperator, resources: ResourcesDep
) -> AppCheckResult:
    """The verdict the carrier gets (BOARD, NO_BOARD, CONTACT_AUTHORITY) with its reasons.
    Watchlist and SLTD details are for the authority and are not in the reasons."""
    today = utc_now().date()
    document = parse_mrz(body.mrz, today=today)
    lists = resources.lists.current()
    result = check_traveller(
        document,
        sltd=lists.documents,
        persons=lists.persons,
        rules=AppRules(),
        today=today,
        arrival=body.arrival,
    )
    return AppCheckResult(
        verdict=result.verdict,
        reasons=[ReasonPublic(code=r.code.value, detail=r.detail) for r in result.reasons],
    )
