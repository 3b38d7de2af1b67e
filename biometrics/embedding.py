"""Face chips in, 128-d dlib descriptors out.

Two interchangeable `Embedder`s: `OnnxEmbedder` runs dlib's face ResNet in ONNX Runtime (the
production path, ~30-60x faster than dlib's BLAS-less wheel on CPU) and `DlibEmbedder` runs
dlib itself (the reference). Both take (N, 150, 150, 3) uint8 RGB chips as made by
``dlib.get_face_chip(img, shape5, 150, 0.25)`` and return raw, unnormalised descriptors
(N, 128) float32: compare with Euclidean distance, same person below 0.6.

The ONNX model is exported from the ``.dat`` weights on this machine (never downloaded) and
cached under a name holding the weights' SHA-256, so changed weights rebuild it. Importing
this module loads nothing; a model is loaded when an embedder is constructed.
"""

from __future__ import annotations

import enum
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from biometrics import BiometricsError, runtime

CHIP_SIZE = 150  # pixels, square
EMBEDDING_DIM = 128
DEFAULT_CACHE_DIR = Path("~/.cache/egate/models")
# Bump when the exporter's output changes, so cached models from older code are not reused.
EXPORT_VERSION = 2
# Chips per ONNX run: bounds activation memory (~2.4 MB a chip) for very large inputs;
# speed per face is flat beyond ~16.
MAX_RUN_BATCH = 64

Chips = npt.NDArray[np.uint8]
Embeddings = npt.NDArray[np.float32]


class Provider(enum.Enum):
    """ONNX Runtime execution provider."""

    CPU = "CPUExecutionProvider"
    CUDA = "CUDAExecutionProvider"


class ProviderUnavailable(BiometricsError):
    """The requested execution provider is not in this onnxruntime build."""

    code = "provider_unavailable"

    def __init__(self, requested: Provider, available: list[str]) -> None:
        super().__init__(
            f"onnxruntime provider {requested.value} is unavailable; available: "
            f"{', '.join(available) or 'none'}"
        )
        self.requested = requested
        self.available = available


class InvalidChips(BiometricsError):
    """Input is not an (N, 150, 150, 3) uint8 array of face chips."""

    code = "invalid_chips"

    def __init__(self, problem: str, shape: tuple[int, ...] | None, dtype: str | None) -> None:
        super().__init__(
            f"{problem}: expected (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) uint8 chips, "
            f"got shape {shape} dtype {dtype}"
        )
        self.shape = shape
        self.dtype = dtype


class ModelLoadError(BiometricsError):
    """ONNX Runtime could not load the model file (missing, corrupt, or not this network)."""

    code = "model_load_failed"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot load ONNX model {path}: {reason}")
        self.path = path
        self.reason = reason


class Embedder(Protocol):
    def embed(self, chips: Chips) -> Embeddings:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32 raw dlib descriptors."""
        ...


def check_chips(chips: object) -> Chips:
    """Return `chips` as a C-contiguous (N, 150, 150, 3) uint8 array or raise `InvalidChips`."""
    if not isinstance(chips, np.ndarray):
        raise InvalidChips(f"not a numpy array but {type(chips).__name__}", None, None)
    shape, dtype = tuple(chips.shape), str(chips.dtype)
    if chips.dtype != np.uint8:
        raise InvalidChips("wrong dtype", shape, dtype)
    if chips.ndim != 4 or shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise InvalidChips("wrong shape", shape, dtype)
    return np.ascontiguousarray(chips)


def default_weights() -> Path:
    """dlib_face_recognition_resnet_model_v1.dat from the face_recognition_models package."""
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


def weights_digest(weights: Path) -> str:
    """SHA-256 hex of the weights file. Not memoised (~40 ms for the 22 MB file): a key of
    size and mtime would miss a same-size rewrite within the file system's mtime tick."""
    with weights.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def model_filename(digest: str) -> str:
    return f"dlib_face_resnet.v{EXPORT_VERSION}.{digest}.onnx"


def export_model(dest: Path | None = None, *, weights: Path | None = None) -> Path:
    """Path of the ONNX model for `weights` in the cache directory `dest`, built if absent.

    `dest` defaults to ``~/.cache/egate/models``; `weights` to face_recognition_models'
    ``.dat``. The file name carries the weights' SHA-256, so other weights get their own
    model. The file is written atomically: concurrent exporters never see a partial model.
    """
    from biometrics.dlib_format import read_network
    from biometrics.onnx_export import build_onnx

    source = weights if weights is not None else default_weights()
    directory = (dest if dest is not None else DEFAULT_CACHE_DIR).expanduser()
    target = directory / model_filename(weights_digest(source))
    if target.is_file():
        return target
    model = build_onnx(read_network(source))
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as tmp:
        try:
            tmp.write(model.SerializeToString())
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, target)
    return target


def _session_options(threads: int | None, spin_us: int) -> Any:
    ort = runtime.onnxruntime()

    options = ort.SessionOptions()
    # ENABLE_ALL lets ORT re-lay the convolutions out in NCHWc blocks and fuse bias, Add
    # and Relu into them (benchmarks/bench_embedding.py --tune: basic/extended are slower).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads if threads is not None else len(os.sched_getaffinity(0))
    # Without spinning, batch 1 runs almost single-threaded: in ORT's profile each ~100 us
    # conv takes as long with 2 threads as with 1 (a sleeping worker seemingly wakes too
    # late to take its share, and the calling thread runs it). ORT's own default spin burns
    # ~8 ms of CPU after every run and fights other work on a shared host; a bounded spin
    # (spin_duration_us) bridges the gaps between one run's operators and then sleeps
    # (bench_embedding.py --tune).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_us else "0")
    if spin_us:
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
    options.log_severity_level = 3  # errors only
    return options


def _open_session(path: Path, threads: int | None, spin_us: int, providers: list[str]) -> Any:
    ort = runtime.onnxruntime()
    from onnxruntime.capi.onnxruntime_pybind11_state import (
        Fail,
        InvalidArgument,
        InvalidGraph,
        InvalidProtobuf,
        NoSuchFile,
    )

    try:
        return ort.InferenceSession(
            str(path), sess_options=_session_options(threads, spin_us), providers=providers
        )
    except (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile) as error:
        raise ModelLoadError(path, str(error)) from error


class OnnxEmbedder:
    """dlib's face ResNet in ONNX Runtime; equal to `DlibEmbedder` within ~1e-6.

    `model_path` uses that ONNX file as-is; otherwise the model is exported to (or found in)
    `cache_dir` (default ``~/.cache/egate/models``); a cached model that fails to load is
    rebuilt once. `threads` is ONNX Runtime's intra-op thread count (default: the CPUs this
    process may use). `spin_us` is how long, in microseconds, an idle ORT worker thread
    busy-waits for the next operator before it sleeps: 0 (the default) never spins, right
    for a host whose cores also run detection or other workers, and moot with one thread;
    ~100 makes batch 1 with two threads ~30% faster on an idle machine (1.7 vs 2.4 ms a
    face) and ~40% slower when other work competes for the cores; ~5 keeps most of the
    gain (2.2 vs 2.0 ms, 2.8 not spinning) and loses less than longer spins under load.

    Raises `ProviderUnavailable` when `provider` is not in the installed onnxruntime and
    `ModelLoadError` when the model cannot be loaded. `embed` may be called from several
    threads at once.
    """

    def __init__(
        self,
        provider: Provider = Provider.CPU,
        *,
        model_path: Path | None = None,
        threads: int | None = None,
        cache_dir: Path | None = None,
        spin_us: int = 0,
    ) -> None:
        ort = runtime.onnxruntime()

        if spin_us < 0:
            raise ValueError(f"spin_us must be >= 0 microseconds, got {spin_us}")
        available = list(ort.get_available_providers())
        if provider.value not in available:
            raise ProviderUnavailable(provider, available)
        self.provider = provider
        providers = [provider.value]
        if provider is not Provider.CPU:
            providers.append(Provider.CPU.value)  # for any op the accelerator lacks
        if model_path is not None:
            self.model_path = model_path
            self._session = _open_session(model_path, threads, spin_us, providers)
        else:
            self.model_path = export_model(cache_dir)
            try:
                self._session = _open_session(self.model_path, threads, spin_us, providers)
            except ModelLoadError:
                # A damaged cache file (disk full, killed writer before atomic writes, ...)
                self.model_path.unlink(missing_ok=True)
                self.model_path = export_model(cache_dir)
                self._session = _open_session(self.model_path, threads, spin_us, providers)
        if provider.value not in self._session.get_providers():
            # ORT falls back to CPU silently when e.g. the CUDA libraries fail to load.
            raise ProviderUnavailable(provider, list(self._session.get_providers()))
        self._input = self._session.get_inputs()[0].name

    def embed(self, chips: Chips) -> Embeddings:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32 raw dlib descriptors."""
        chips = check_chips(chips)
        if len(chips) == 0:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        parts = [
            self._session.run(None, {self._input: chips[i : i + MAX_RUN_BATCH]})[0]
            for i in range(0, len(chips), MAX_RUN_BATCH)
        ]
        out: Embeddings = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out


class DlibEmbedder:
    """dlib's own ``face_recognition_model_v1`` (the reference; ~60 ms a face on CPU).

    No jitter (num_jitters=0), so results repeat exactly call to call.
    """

    def __init__(self, *, weights: Path | None = None) -> None:
        import dlib

        source = weights if weights is not None else default_weights()
        self._model = dlib.face_recognition_model_v1(str(source))

    def embed(self, chips: Chips) -> Embeddings:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32 raw dlib descriptors."""
        chips = check_chips(chips)
        if len(chips) == 0:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self._model.compute_face_descriptor(list(chips), 0)
        return np.array([np.asarray(v) for v in vectors], dtype=np.float32).reshape(
            len(chips), EMBEDDING_DIM
        )
