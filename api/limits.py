"""Request limits: body size (ASGI middleware), rate per gate (token bucket) and
captures per transaction.

The rate limiter lives in each worker process: with W uvicorn workers a gate may
reach W x the configured rate in the worst case (each worker grants its own burst).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_body


class BodySizeLimit:
    """Refuses a body over `max_bytes` with 413 `request_too_large`, whether the
    client declared its length or streams it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(received)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _TooLarge as exc:
            if not started:
                await self._refuse(send, exc.size)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            error_body(
                "request_too_large",
                f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes",
                {"size": size, "limit": self.max_bytes},
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token bucket per key: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token; returns 0.0 when granted, else seconds until one is free."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def check(self, key: str) -> None:
        """Raise 429 `rate_limited` with Retry-After when `key` is over its rate."""
        wait = self.take(key)
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            raise ApiError(
                429,
                "rate_limited",
                f"rate limit of {self.rate:g} requests/s exceeded for {key}",
                {"retry_after_s": retry},
                headers={"Retry-After": str(retry)},
            )


K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small map whose entries expire `ttl_s` seconds after they were put; 0 = off.

    Holds verified gate keys so a gate's every request does not cost a database
    round trip; a disabled gate key therefore stops working within `ttl_s`."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K, now: float | None = None) -> V | None:
        found = self._entries.get(key)
        now = time.monotonic() if now is None else now
        if found is None or found[0] <= now:
            return None
        return found[1]

    def put(self, key: K, value: V, now: float | None = None) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude, and enough: a deployment has far fewer gates
        now = time.monotonic() if now is None else now
        self._entries[key] = (now + self.ttl_s, value)


def check_capture_count(done: int, limit: int) -> None:
    """Refuse a capture beyond `limit` per transaction (409 `too_many_captures`)."""
    if done >= limit:
        raise ApiError(
            409,
            "too_many_captures",
            f"transaction already has {done} captures; the limit is {limit}",
            {"captures": done, "limit": limit},
        )
