"""The audit trail (role audit): export as JSON lines, and verify the hash chain."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import AuditOperator
from api.deps import ResourcesDep
from api.errors import ApiError
from egate.audit import ChainHead, write_jsonl

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_EXPORT = 100_000


class AuditVerificationPublic(BaseModel):
    ok: bool
    records: int
    head: str
    first_bad_seq: int | None
    problem: str | None
    detail: str


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "one record per line"}
    },
)
async def export(
    operator: AuditOperator,
    resources: ResourcesDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="export records with seq > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = 10_000,
) -> Response:
    """Records `after`+1 .. `after`+`limit`, as `egate audit verify --file` reads them."""

    def dump() -> str:
        out = io.StringIO()
        with resources.store.read() as uow:
            write_jsonl(uow.audit.entries(after=after, until=after + limit), out)
        return out.getvalue()

    return Response(await run_in_threadpool(dump), media_type="application/x-ndjson")


@router.get("/verify", response_model=AuditVerificationPublic)
async def verify(
    operator: AuditOperator,
    resources: ResourcesDep,
    anchor: Annotated[
        str | None, Query(description="SEQ:HASH copied out earlier", max_length=90)
    ] = None,
) -> AuditVerificationPublic:
    """Check every record's hash and link, and the stored head (and `anchor`, if given)."""
    try:
        head = ChainHead.parse(anchor) if anchor else None
    except ValueError as exc:
        raise ApiError(422, "invalid_anchor", str(exc), {"anchor": anchor}) from exc
    result = await run_in_threadpool(resources.store.verify_audit, anchor=head)
    return AuditVerificationPublic(
        ok=result.ok,
        records=result.records,
        head=str(result.head),
        first_bad_seq=result.first_bad_seq,
        problem=result.problem.value if result.problem else None,
        detail=result.detail,
    )
