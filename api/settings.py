"""The one settings object of the service, read from the environment (`EGATE_` prefix).

Only `api/` and the CLI read the environment; everything below receives explicit
arguments built from this object.
"""

from __future__ import annotations

import base64
import binascii
import enum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from biometrics.matcher.codes import CodesLayout

# Development defaults: usable on a laptop, refused anywhere else.
DEFAULT_SECRET = "changethis"
DEFAULT_TEMPLATE_KEY = base64.b64encode(b"egate-development-template-key!!").decode()


class Environment(enum.Enum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class InsecureSettings(ValueError):
    """A default secret was kept outside development."""

    code = "insecure_settings"

    def __init__(self, name: str, environment: Environment) -> None:
        super().__init__(
            f"EGATE_{name.upper()} still has its development default; "
            f"set a secret value before running in {environment.value}"
        )
        self.name = name


class Settings(BaseSettings):
    """Everything the service can be told from outside (`EGATE_<FIELD>`).

    Sizes are bytes, image limits pixels (width x height), rates requests per
    second, times seconds unless the name says otherwise.
    """

    model_config = SettingsConfigDict(env_prefix="EGATE_", frozen=True, extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///var/egate.db"
    # PostgreSQL connections each worker keeps open. Under load a worker runs up to one
    # database session per request in flight; with SQLAlchemy's default pool of 5 every
    # spike above it opened and closed connections (a PostgreSQL backend fork each: 43
    # distinct backends seen in 10 s at N=16, 16 with this pool). `egate serve` refuses to
    # start when workers x (this + 10 overflow) exceeds the server's max_connections.
    database_pool_size: int = Field(default=20, gt=0)
    # Base64 AES-256 key for the templates at rest, and its id (kept beside each ciphertext).
    template_key: SecretStr = SecretStr(DEFAULT_TEMPLATE_KEY)
    template_key_id: str = "k1"
    # An operator token with every role, created at start-up if it does not exist yet.
    bootstrap_admin_token: SecretStr = SecretStr(DEFAULT_SECRET)
    # Server pepper for the gate-key and operator-token digests (kept out of the database).
    secret_pepper: SecretStr = SecretStr(DEFAULT_SECRET)
    gallery_path: Path = Path("var/gallery")
    # Lock the face gallery's files in RAM (mlock) in each worker, so that a host short of
    # memory never reads them back from disk mid-search: with another process holding all
    # but 100 MiB of a 23 GiB VM's available memory, one-query searches of 1M float16
    # templates took 57-440 ms unlocked and 12-39 ms locked (bench_matcher_memlock.py). Each
    # worker needs RLIMIT_MEMLOCK above the gallery's files (LimitMEMLOCK=infinity in a
    # systemd unit) or CAP_IPC_LOCK; refused, it logs why and searches unlocked. The workers
    # share the pages: RAM holds the gallery once. Each worker's first search after a change
    # to the watchlist locks the gallery anew: ~40 ms a million float16 templates.
    gallery_lock_memory: bool = False
    # Codes layout of a face gallery made by the service (rows or columns); unset: the
    # host's (biometrics.matcher.codes.preferred_layout: rows where int8 products run on AMX).
    codes_layout: CodesLayout | None = None
    # Let ONNX Runtime run its int8 products (the face search) on AMX tiles where the CPU has
    # them. Off: on a 2-core Xeon with AMX, 1M templates searched 2.1x faster for one query
    # and 1.5-1.9x faster at B = 64-1,024 on AVX-512 VNNI (biometrics.runtime). Applies when
    # a worker first loads ONNX Runtime.
    onnx_amx: bool = False
    policy_path: Path = Path("var/policy.json")
    # PEM bundle of the Country Signing CA certificates trusted for passive authentication.
    csca_path: Path | None = None
    # A watchlist loaded through another worker applies here within this many seconds.
    watchlist_refresh_s: float = Field(default=5.0, gt=0)
    # Run the database migrations when a worker starts (`egate serve` does it once
    # before starting workers and turns this off for them).
    migrate_on_start: bool = True

    # Limits on what one client may send.
    max_request_bytes: int = Field(default=10_000_000, gt=0)
    max_image_pixels: int = Field(default=16_000_000, gt=0)
    max_captures_per_transaction: int = Field(default=5, gt=0)
    gate_rate_per_s: float = Field(default=20.0, gt=0)
    gate_burst: int = Field(default=40, gt=0)

    # Inference: threads running the face pipeline, how many captures may wait,
    # and how many concurrent captures are embedded together. Live captures are taken from
    # the queue ahead of chip portraits; with batches of at most 2 a capture rarely waits
    # behind a batch of portraits. Measured with 16 gates back to back
    # (benchmarks/load_gates.py) on a 2-core Zen 5: batch 8 gave 47.0 captures/s at capture
    # p99 359 ms and open p99 340 ms, batch 2 41.4/s at capture p99 199 ms and open p99
    # 834 ms; on a 2-core Xeon (Emerald Rapids) batch 2 gave 36.5/s at p99 161 ms, 4 40.2/s
    # at 283 ms, 8 39.4/s at 434 ms. The traveller waits at the camera, while an open
    # overlaps the chip read and walking in.
    inference_threads: int = Field(default=2, gt=0)
    inference_queue: int = Field(default=32, gt=0)
    inference_max_batch: int = Field(default=2, gt=0)
    inference_batch_wait_ms: float = Field(default=2.0, ge=0)
    retry_after_s: int = Field(default=1, gt=0)
    # Smallest eye distance (px) detection looks for. Live: the gate policy needs 90 px, so
    # 60 still tells a traveller at 60-90 px to step closer while costing ~25% less than
    # searching down to 45 px (measured). Reference: ISO/IEC 19794-5 token portraits have
    # 60 px between the eyes; 50 leaves a margin.
    live_search_eye_distance_px: float = Field(default=60.0, gt=0)
    reference_search_eye_distance_px: float = Field(default=50.0, gt=0)
    # Reference portraits with at least this eye distance are found by a first, cheap
    # detection pass (at about a third of the scale): full-frontal portraits (ISO/IEC
    # 39794-5) have 90 px; only a smaller (token) portrait pays for the second pass.
    reference_coarse_eye_distance_px: float = Field(default=90.0, gt=0)

    # A verified gate key is trusted for this long without asking the database again,
    # so a disabled gate stops working within this many seconds; 0 turns it off.
    credential_cache_s: float = Field(default=10.0, ge=0)
    # Idempotency records older than this may be purged (seconds).
    idempotency_ttl_s: int = Field(default=86_400, gt=0)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        if self.template_key.get_secret_value() == DEFAULT_TEMPLATE_KEY:
            raise InsecureSettings("template_key", self.environment)
        for name in ("bootstrap_admin_token", "secret_pepper"):
            secret: SecretStr = getattr(self, name)
            if secret.get_secret_value() == DEFAULT_SECRET:
                raise InsecureSettings(name, self.environment)
        return self

    @model_validator(mode="after")
    def _template_key_is_aes256(self) -> Self:
        try:
            raw = base64.b64decode(self.template_key.get_secret_value(), validate=True)
        except binascii.Error as exc:
            raise ValueError("EGATE_TEMPLATE_KEY must be base64") from exc
        if len(raw) != 32:
            raise ValueError(f"EGATE_TEMPLATE_KEY must decode to 32 bytes, got {len(raw)}")
        return self

    def template_key_bytes(self) -> bytes:
        """The 32-byte AES key for templates at rest."""
        return base64.b64decode(self.template_key.get_secret_value())
