"""Operations: liveness, readiness and Prometheus metrics (unversioned, no auth)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import ResourcesDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    models_loaded: bool
    database: bool
    inference_pending: int


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(resources: ResourcesDep) -> JSONResponse:
    """Models loaded and database reachable; 503 otherwise (the load balancer skips us)."""
    database = await resources.database_reachable()
    body = Readiness(
        ready=resources.models_loaded and database,
        models_loaded=resources.models_loaded,
        database=database,
        inference_pending=resources.pool.pending,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(resources: ResourcesDep) -> Response:
    """Prometheus exposition: request latency histograms, decisions by reason, queue depth."""
    return Response(resources.metrics.render(), media_type="text/plain; version=0.0.4")
