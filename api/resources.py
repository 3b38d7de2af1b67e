"""The heavy resources of one worker process, opened once by the app lifespan:
the face processor (detector + ONNX embedder), the inference pool in front of it,
the store, and the face watchlist searcher."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.inference import InferencePool, PoolConfig
from api.metrics import Metrics
from api.settings import Settings

if TYPE_CHECKING:
    from biometrics.pipeline import Capture, FaceProcessor


@dataclass
class Resources:
    settings: Settings
    metrics: Metrics
    processor: FaceProcessor
    pool: InferencePool[bytes, Capture]
    store: Any
    models_loaded: bool = True

    @classmethod
    async def open(cls, settings: Settings, metrics: Metrics) -> Resources:
        processor = await asyncio.to_thread(_build_processor, settings)
        pool: InferencePool[bytes, Capture] = InferencePool(
            _batch_fn(processor, settings),
            PoolConfig(
                threads=settings.inference_threads,
                max_pending=settings.inference_queue,
                max_batch=settings.inference_max_batch,
                batch_wait_s=settings.inference_batch_wait_ms / 1000.0,
                retry_after_s=settings.retry_after_s,
            ),
            metrics,
        )
        await pool.start()
        store = await asyncio.to_thread(_open_store, settings)
        return cls(settings, metrics, processor, pool, store)

    async def close(self) -> None:
        await self.pool.stop()
        close = getattr(self.store, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    async def database_reachable(self) -> bool:
        ping = getattr(self.store, "ping", None)
        if ping is None:
            return False
        try:
            return bool(await asyncio.to_thread(ping))
        except Exception:
            return False


def _build_processor(settings: Settings) -> FaceProcessor:
    from biometrics.pipeline import FaceProcessor

    from biometrics.embedding import OnnxEmbedder

    # One ORT thread per pool thread: the pool already runs `inference_threads` batches
    # in parallel, and oversubscribing 2 cores only adds context switches.
    return FaceProcessor(OnnxEmbedder(threads=1))


def _batch_fn(processor: FaceProcessor, settings: Settings) -> Any:
    from biometrics import BiometricsError
    from biometrics.images import load_image

    def run(items: Sequence[bytes]) -> list[Capture | BaseException]:
        results: list[Capture | BaseException] = []
        images = []
        slots: list[int] = []
        for data in items:
            try:
                images.append(load_image(data, max_pixels=settings.max_image_pixels))
                slots.append(len(results))
                results.append(BiometricsError("pending"))
            except BiometricsError as exc:
                results.append(exc)
        if images:
            for slot, capture in zip(slots, processor.process_batch(images), strict=True):
                results[slot] = capture
        return results

    return run


def _open_store(settings: Settings) -> Any:
    return None
