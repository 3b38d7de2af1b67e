"""Operators and their roles (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import AdminOperator
from api.deps import ResourcesDep
from api.errors import ApiError
from api.schemas.common import Strict
from egate.store import OperatorRole

router = APIRouter(prefix="/operators", tags=["operators"])


class OperatorCreate(Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
    roles: Annotated[list[OperatorRole], Field(min_length=1)]


class OperatorCreated(BaseModel):
    id: str
    roles: list[OperatorRole]
    token: str = Field(description="bearer token; shown only in this answer")


@router.post("", status_code=201, response_model=OperatorCreated)
async def create_operator(
    body: OperatorCreate, admin: AdminOperator, resources: ResourcesDep
) -> OperatorCreated:
    def create() -> str:
        with resources.store.unit_of_work() as uow:
            return uow.operators.create(body.id, body.roles, actor=admin.id)

    token = await run_in_threadpool(create)
    return OperatorCreated(
        id=body.id, roles=sorted(set(body.roles), key=lambda r: r.value), token=token
    )


@router.delete("/{operator_id}", status_code=204)
async def disable_operator(operator_id: str, admin: AdminOperator, resources: ResourcesDep) -> None:
    """Disable an operator: its token stops working at once. Nobody disables themself
    (the last admin would lock everyone out)."""
    if operator_id == admin.id:
        raise ApiError(409, "cannot_disable_self", "an operator cannot disable their own token")

    def disable() -> None:
        with resources.store.unit_of_work() as uow:
            uow.operators.disable(operator_id, actor=admin.id)

    await run_in_threadpool(disable)
