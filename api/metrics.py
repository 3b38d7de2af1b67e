"""Prometheus metrics of one service instance (one registry per app, so tests and
several apps in one process never collide)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Latency buckets in seconds: gate captures live between 20 ms and a few hundred.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.request_latency = Histogram(
            "egate_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "egate_decisions_total",
            "Gate decisions by outcome and reason",
            ["decision", "reason"],
            registry=r,
        )
        self.captures = Counter(
            "egate_captures_total",
            "Live captures processed, by result code",
            ["result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "egate_inference_queue_depth", "Captures waiting for or in inference", registry=r
        )
        self.batch_size = Histogram(
            "egate_inference_batch_size",
            "Captures processed together in one inference batch",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
            registry=r,
        )
        self.rejected = Counter(
            "egate_inference_rejected_total",
            "Requests refused with 503 because the pool was full",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LatencyMiddleware:
    """Times every HTTP request and labels it with the route template (not the raw
    path, so ids do not explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefix: str) -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.request_latency.labels(
                scope["method"], self._template(scope), str(status)
            ).observe(time.perf_counter() - start)

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path is None:
            return "unmatched"
        # FastAPI keeps an included router's routes with their own paths: the prefix
        # given to include_router is not in them.
        if scope["path"].startswith(self.prefix + "/") and not path.startswith(self.prefix + "/"):
            return f"{self.prefix}{path}"
        return str(path)
