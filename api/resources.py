"""The heavy resources of one worker process, opened once by the app lifespan:
the face processor (detector + ONNX embedder), the inference pool in front of it,
the store, the gate policy and the per-gate rate limiter."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from api.gallery import FaceGallery
from api.inference import InferencePool, PoolConfig
from api.limits import RateLimiter, TtlCache
from api.metrics import Metrics
from api.policy_file import PolicyFile
from api.screening import ScreeningLists
from api.settings import Settings
from biometrics import runtime

if TYPE_CHECKING:
    from api.auth import Principal
    from biometrics.pipeline import Capture, FaceProcessor
    from egate.crypto import TemplateKeyring
    from egate.csca import CscaStore
    from egate.store import Store

log = logging.getLogger(__name__)

BOOTSTRAP_ADMIN_ID = "admin"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Purpose(enum.Enum):
    """Which quality bar an image must pass: a live gate capture (ISO/IEC 39794-5, BSI
    pose limits) or a reference photo (chip portrait, enrolment, watchlist), where
    older documents carry smaller faces and the photo is what it is."""

    LIVE = "live"
    REFERENCE = "reference"


Job = tuple[Purpose, bytes]
_LIVE_FIRST, _REFERENCE_NEXT = 0, 1  # inference pool priorities (lower first)


@dataclass
class Resources:
    settings: Settings
    metrics: Metrics
    processors: Processors
    pool: InferencePool[Job, Capture]
    store: Store
    keyring: TemplateKeyring
    policy: PolicyFile
    limiter: RateLimiter
    lists: ScreeningLists
    csca: CscaStore
    gallery: FaceGallery
    gate_keys: TtlCache[str, Principal]
    models_loaded: bool = True

    @classmethod
    async def open(cls, settings: Settings, metrics: Metrics) -> Resources:
        runtime.load(amx=settings.onnx_amx)  # before anything else loads ONNX Runtime
        processors = await asyncio.to_thread(Processors, settings)
        pool: InferencePool[Job, Capture] = InferencePool(
            _batch_fn(processors),
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
        await pool.on_each_thread(processors.warm_up)
        keyring, store = await asyncio.to_thread(_open_store, settings)
        return cls(
            settings,
            metrics,
            processors,
            pool,
            store,
            keyring,
            PolicyFile(settings.policy_path),
            RateLimiter(settings.gate_rate_per_s, settings.gate_burst),
            ScreeningLists(store, settings.watchlist_refresh_s),
            _csca(settings),
            FaceGallery(
                settings.gallery_path,
                settings.codes_layout,
                lock_memory=settings.gallery_lock_memory,
            ),
            TtlCache(settings.credential_cache_s),
        )

    async def live(self, image: bytes) -> Capture:
        """A gate capture through the pool (raises `Overloaded` when it is full). Live
        captures go ahead of queued reference photos: the traveller is standing at the
        camera, while a transaction whose portrait waits is still at the document reader.
        With small batches (EGATE_INFERENCE_MAX_BATCH=2) this moves the queueing from
        captures to opens; with the default 8 a batch usually takes everything queued."""
        return await self.pool.submit((Purpose.LIVE, image), priority=_LIVE_FIRST)

    async def reference(self, image: bytes) -> Capture:
        """A reference photo (chip portrait, enrolment, watchlist) through the pool."""
        return await self.pool.submit((Purpose.REFERENCE, image), priority=_REFERENCE_NEXT)

    async def close(self) -> None:
        await self.pool.stop()
        self.gallery.close()
        await asyncio.to_thread(self.store.close)

    async def database_reachable(self) -> bool:
        def ping() -> bool:
            with self.store.read() as uow:
                uow.audit.head()
            return True

        try:
            return await asyncio.to_thread(ping)
        except Exception:
            log.warning("database not reachable", exc_info=True)
            return False


class Processors:
    """One `FaceProcessor` per purpose and per inference thread. dlib's detector and
    shape predictor are not documented as safe to share between threads (the plain
    face_recognition baseline corrupts memory when its models are), so each thread
    gets its own; the ONNX Runtime session of the embedder is thread-safe and shared."""

    def __init__(self, settings: Settings) -> None:
        from biometrics.embedding import OnnxEmbedder

        self._settings = settings
        # One ORT thread per pool thread: the pool already runs `inference_threads` batches
        # in parallel; more threads than cores only adds context switches.
        self._embedder = OnnxEmbedder(threads=1)
        self._local = threading.local()

    def warm_up(self) -> None:
        """Load this thread's detector and run every model once (readiness = loaded)."""
        import numpy as np

        for processor in self.get().values():
            processor.process(np.full((120, 160, 3), 128, np.uint8))
        self._embedder.embed(np.zeros((1, 150, 150, 3), np.uint8))

    def get(self) -> dict[Purpose, FaceProcessor]:
        made: dict[Purpose, FaceProcessor] | None = getattr(self._local, "processors", None)
        if made is None:
            made = self._local.processors = self._make()
        return made

    def _make(self) -> dict[Purpose, FaceProcessor]:
        from biometrics.detection import FaceDetector
        from biometrics.pipeline import FaceProcessor, coarse_eye_distance_px
        from biometrics.quality import QualityPolicy

        s = self._settings
        detector = FaceDetector()
        return {
            Purpose.LIVE: FaceProcessor(
                self._embedder,
                detector=detector,
                search_eye_distance_px=s.live_search_eye_distance_px,
                max_pixels=s.max_image_pixels,
            ),
            # Reference photos are judged by the photo policy (smaller faces, looser
            # pose), but detection stops at `reference_search_eye_distance_px`: searching
            # down to that policy's 10 px would upsample every portrait (~100x the cost).
            Purpose.REFERENCE: FaceProcessor(
                self._embedder,
                QualityPolicy.photo(),
                detector=detector,
                search_eye_distance_px=s.reference_search_eye_distance_px,
                coarse_eye_distance_px=coarse_eye_distance_px(
                    QualityPolicy(min_eye_distance_px=s.reference_coarse_eye_distance_px), detector
                ),
                max_pixels=s.max_image_pixels,
            ),
        }


def _batch_fn(processors: Processors):  # type: ignore[no-untyped-def]
    """Captures for a batch of encoded images; an undecodable image fails alone, and
    each purpose's images are embedded in one call."""
    from biometrics import BiometricsError
    from biometrics.images import load_image

    def run(items: Sequence[Job]) -> list[Capture | BaseException]:
        results: list[Capture | BaseException] = [placeholder] * len(items)
        for purpose, processor in processors.get().items():
            slots, images = [], []
            for i, (p, data) in enumerate(items):
                if p is not purpose:
                    continue
                try:
                    images.append(load_image(data, max_pixels=processor.max_pixels))
                    slots.append(i)
                except BiometricsError as exc:
                    results[i] = exc
            if images:
                for slot, capture in zip(slots, processor.process_batch(images), strict=True):
                    results[slot] = capture
        return results

    placeholder = RuntimeError("not processed")
    return run


def _open_store(settings: Settings) -> tuple[TemplateKeyring, Store]:
    from egate.crypto import TemplateKeyring
    from egate.store import AlreadyExists, OperatorRole, Store

    keyring = TemplateKeyring.single(settings.template_key_id, settings.template_key_bytes())
    store = Store(
        settings.database_url,
        template_key=keyring,
        pepper=settings.secret_pepper.get_secret_value().encode(),
        pool_size=settings.database_pool_size,
    )
    if settings.migrate_on_start:
        store.upgrade()
    token = settings.bootstrap_admin_token.get_secret_value()
    try:
        with store.unit_of_work() as uow:
            if uow.operators.get(BOOTSTRAP_ADMIN_ID) is None:
                uow.operators.create(
                    BOOTSTRAP_ADMIN_ID, list(OperatorRole), actor="system", token=token
                )
    except AlreadyExists:
        pass  # another worker created it first
    except Exception as exc:  # a racing worker's insert wins; anything else is real
        if "unique" not in str(exc).lower():
            raise
    with store.unit_of_work() as uow:  # retries older than this are no longer recognised
        uow.idempotency.purge(utc_now() - timedelta(seconds=settings.idempotency_ttl_s))
    return keyring, store


def _csca(settings: Settings) -> CscaStore:
    from egate.csca import CscaStore

    if settings.csca_path is None:
        return CscaStore()  # no trust anchors: every chip fails passive authentication
    return CscaStore.from_files([settings.csca_path])
