"""Bounded inference pool with micro-batching.

Requests hand one item each to `InferencePool.submit`. A single batcher task takes
a free worker thread, then drains whatever is queued (up to `max_batch`, waiting at
most `batch_wait_s` for company) and runs the whole batch in that thread, so
concurrent captures share one embedder call. When `max_pending` items are already
waiting or running the pool refuses at once (`Overloaded`, answered 503 with
Retry-After) instead of letting latency grow without bound.

Items carry a priority (lower first, first come first served within one): the
service puts live captures ahead of chip portraits (see `api.resources`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from api.metrics import Metrics

T = TypeVar("T")
R = TypeVar("R")

# A batch function returns one result per item, or the exception that item raised.
BatchFn = Callable[[Sequence[T]], Sequence[R | BaseException]]


class Overloaded(Exception):
    """Every inference slot and queue place is taken."""

    code = "overloaded"

    def __init__(self, pending: int, retry_after_s: int) -> None:
        super().__init__(f"inference queue full ({pending} captures pending); retry later")
        self.pending = pending
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class PoolConfig:
    threads: int = 2
    max_pending: int = 32
    max_batch: int = 8
    batch_wait_s: float = 0.002
    retry_after_s: int = 1


class InferencePool(Generic[T, R]):
    """Runs `batch_fn` over batches of submitted items on `config.threads` threads."""

    def __init__(self, batch_fn: BatchFn[T, R], config: PoolConfig, metrics: Metrics) -> None:
        self._batch_fn = batch_fn
        self._config = config
        self._metrics = metrics
        self._queue: asyncio.PriorityQueue[_Entry[T, R]] = asyncio.PriorityQueue()
        self._arrivals = itertools.count()  # first come, first served within a priority
        self._slots = asyncio.Semaphore(config.threads)
        self._executor = ThreadPoolExecutor(config.threads, thread_name_prefix="egate-inference")
        self._pending = 0
        self._batcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Items queued or being processed now."""
        return self._pending

    async def start(self) -> None:
        self._batcher = asyncio.create_task(self._batch_loop(), name="egate-batcher")

    async def on_each_thread(self, fn: Callable[[], object]) -> None:
        """Run `fn` once on every worker thread (to load per-thread models before the
        first request); a barrier keeps each call on its own thread."""
        barrier = threading.Barrier(self._config.threads)

        def run() -> None:
            fn()
            barrier.wait(timeout=120)

        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, run) for _ in range(self._config.threads))
        )

    async def stop(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, item: T, *, priority: int = 0) -> R:
        """Process one item (lower `priority` first); raises `Overloaded` at once when
        the pool is full."""
        if self._pending >= self._config.max_pending:
            self._metrics.rejected.inc()
            raise Overloaded(self._pending, self._config.retry_after_s)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending += 1
        self._metrics.queue_depth.set(self._pending)
        try:
            self._queue.put_nowait(_Entry(priority, next(self._arrivals), item, future))
            return await future
        finally:
            self._pending -= 1
            self._metrics.queue_depth.set(self._pending)

    async def submit_many(self, items: Sequence[T], *, priority: int = 0) -> list[R]:
        """Process several items of one request, refusing all of them if they do not fit."""
        if self._pending + len(items) > self._config.max_pending:
            self._metrics.rejected.inc()
            raise Overloaded(self._pending, self._config.retry_after_s)
        return list(await asyncio.gather(*(self.submit(i, priority=priority) for i in items)))

    async def _batch_loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                batch = [await self._queue.get()]
                deadline = time.monotonic() + self._config.batch_wait_s
                while len(batch) < self._config.max_batch:
                    if not self._queue.empty():
                        batch.append(self._queue.get_nowait())
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Entry[T, R]]) -> None:
        try:
            live = [(e.item, e.future) for e in batch if not e.future.cancelled()]
            if not live:
                return
            self._metrics.batch_size.observe(len(live))
            loop = asyncio.get_running_loop()
            items = [item for item, _ in live]
            try:
                results: Sequence[R | BaseException] = await loop.run_in_executor(
                    self._executor, self._batch_fn, items
                )
            except Exception as exc:  # the whole batch failed: every caller sees why
                results = [exc] * len(live)
            for (_, fut), result in zip(live, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
        finally:
            self._slots.release()


@dataclass(frozen=True, slots=True, order=True)
class _Entry(Generic[T, R]):
    priority: int
    arrival: int
    item: T = field(compare=False)
    future: asyncio.Future[R] = field(compare=False)
