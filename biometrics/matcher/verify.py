"""1:1 verification: (live, template) pairs -> Euclidean distances and match decisions."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics import runtime
from biometrics.embedding import EMBEDDING_DIM, Provider, ProviderUnavailable
from biometrics.matcher.errors import DimensionMismatch
from biometrics.matcher.graphs import verify_graph
from biometrics.matcher.vectors import as_vectors, check_threshold

# dlib's own decision threshold for its face descriptor (Euclidean distance).
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class VerifyResult:
    """`distances` (B,) float32 Euclidean distances; `matches` (B,) bool, distance <= threshold."""

    distances: npt.NDArray[np.float32]
    matches: npt.NDArray[np.bool_]
    threshold: float


class Verifier:
    """Owns the ONNX Runtime session of the 1:1 graph (create once, call `verify` often)."""

    def __init__(
        self,
        provider: Provider = Provider.CPU,
        *,
        dim: int = EMBEDDING_DIM,
        threads: int | None = None,
    ) -> None:
        ort = runtime.onnxruntime()

        available = list(ort.get_available_providers())
        if provider.value not in available:
            raise ProviderUnavailable(provider, available)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.provider = provider
        self.dim = dim
        self._session = ort.InferenceSession(
            verify_graph(dim).SerializeToString(), options, providers=[provider.value]
        )

    def verify(
        self, live: Any, templates: Any, threshold: float = DEFAULT_THRESHOLD
    ) -> VerifyResult:
        """Compare live[i] with templates[i], both (B, dim) raw descriptors.

        Raises DimensionMismatch (shapes differ or are not (B, dim)), NonFiniteValue,
        ValueOutOfRange, InvalidArgument (threshold not a finite number >= 0).
        """
        a = as_vectors(live, self.dim, "live")
        b = as_vectors(templates, self.dim, "templates")
        if a.shape != b.shape:
            raise DimensionMismatch("templates", f"{a.shape} like live", b.shape)
        threshold = check_threshold(threshold)
        if len(a) == 0:
            return VerifyResult(np.zeros(0, np.float32), np.zeros(0, bool), threshold)
        feeds = {"live": a, "templates": b, "threshold": np.array(threshold, np.float32)}
        distances, matches = self._session.run(None, feeds)
        return VerifyResult(distances, matches, threshold)


_default: Verifier | None = None
_default_lock = threading.Lock()


def verify(live: Any, templates: Any, threshold: float = DEFAULT_THRESHOLD) -> VerifyResult:
    """`Verifier().verify` on a CPU session created at the first call and reused."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Verifier()
    return _default.verify(live, templates, threshold)


def threshold_at_fmr(
    genuine: Sequence[float] | npt.NDArray[Any],
    impostor: Sequence[float] | npt.NDArray[Any],
    target_fmr: float,
) -> float:
    """The distance threshold whose false match rate on `impostor` distances is at most
    `target_fmr` (ISO/IEC 19795-1), from `biometrics.evaluation.threshold_for_fmr`."""
    # evaluation is the capture stream's module; imported here so the matcher loads without it.
    from biometrics.evaluation import threshold_for_fmr  # type: ignore[import-not-found,unused-ignore]

    return check_threshold(float(threshold_for_fmr(genuine, impostor, target_fmr)))
