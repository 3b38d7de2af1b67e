"""`create_app(settings)`: the FastAPI application and the lifespan that owns its
heavy resources (face models, the store, the gallery searcher, the inference pool).

Nothing heavy happens at import or in `create_app`; the lifespan opens everything
once per worker process and closes it on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI

from api import errors
from api.limits import BodySizeLimit
from api.metrics import LatencyMiddleware, Metrics
from api.resources import Resources
from api.routes import health
from api.settings import Settings

API_PREFIX = "/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; `settings` defaults to the environment (`EGATE_*`)."""
    settings = settings if settings is not None else Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = await Resources.open(settings, metrics)
        app.state.resources = resources
        try:
            yield
        finally:
            await resources.close()

    app = FastAPI(
        title="e-Gate",
        version="1",
        summary="Biometric border-control gates: transactions, verification and operations",
        lifespan=lifespan,
        responses=errors.ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    errors.install(app)
    # Outermost first: the size limit refuses before anything reads the body.
    app.add_middleware(LatencyMiddleware, metrics=metrics, prefix=API_PREFIX)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.include_router(health.router)
    for module in _versioned_routes():
        app.include_router(module.router, prefix=API_PREFIX)
    return app


def _versioned_routes() -> list[ModuleType]:
    from api.routes import (
        app_checks,
        audit,
        enrolments,
        gates,
        manifests,
        operators,
        policy,
        transactions,
        verify,
        watchlists,
    )

    return [
        gates, transactions, verify, enrolments, watchlists,
        manifests, app_checks, audit, policy, operators,
    ]  # fmt: skip
