"""The face side of a crossing, over the biometric core's public interface.

`capture_outcome` turns a processed live capture into the gate's `CaptureOutcome`
(pure: the API runs inference in its own batched pool and calls this with the result);
`BiometricFaceVerifier` is the `FaceVerifier` port for callers that hand over bytes.
"""

from __future__ import annotations

import numpy as np

from biometrics import BiometricsError
from biometrics.pipeline import Capture, FaceProcessor
from egate import EgateError
from egate.chip import portrait_from_dg2
from egate.crossing import Embeddings
from egate.gate import CaptureOutcome
from egate.watchlist import FaceWatchlist


class NoReference(EgateError):
    """A live face arrived for a transaction that has nothing to compare it with."""

    code = "no_reference"

    def __init__(self) -> None:
        super().__init__("no reference embedding (chip portrait or enrolment) to compare with")


def capture_outcome(
    capture: Capture, references: Embeddings, *, watchlist: FaceWatchlist | None = None
) -> CaptureOutcome:
    """Quality findings, or the smallest Euclidean distance from the live embedding to
    the references ((R, 128) float32) and any face-watchlist hits of the live face."""
    if capture.embedding is None:
        return CaptureOutcome(quality_issues=capture.quality.messages)
    if len(references) == 0:
        raise NoReference()
    live = capture.embedding.astype(np.float64)
    nearest = float(np.linalg.norm(references.astype(np.float64) - live, axis=1).min())
    hits: tuple[str, ...] = ()
    if watchlist is not None:
        hits = tuple(h.id for h in watchlist.search(capture.embedding.reshape(1, -1))[0])
    return CaptureOutcome(distance=nearest, watchlist_hits=hits)


def portrait_embedding(capture: Capture) -> Embeddings | None:
    """The chip portrait's embedding as (1, 128), or None when it holds no usable face."""
    if capture.embedding is None:
        return None
    return capture.embedding.reshape(1, -1).astype(np.float32)


class BiometricFaceVerifier:
    """`FaceVerifier` over two `FaceProcessor`s sharing one embedder: `live` with the
    gate camera's quality policy, `portrait` with a photo policy (the chip portrait is
    a small, well-posed passport photo, judged by ISO/IEC 39794-5 rather than by a
    camera's distance rules)."""

    def __init__(
        self,
        live: FaceProcessor,
        portrait: FaceProcessor,
        *,
        watchlist: FaceWatchlist | None = None,
    ) -> None:
        self.live = live
        self.portrait = portrait
        self.watchlist = watchlist

    def portrait_embedding(self, dg2: bytes) -> Embeddings | None:
        try:
            capture = self.portrait.process(portrait_from_dg2(dg2))
        except (EgateError, BiometricsError):
            return None  # the crossing refers: CHIP_PORTRAIT_UNUSABLE
        return portrait_embedding(capture)

    def compare(self, capture: bytes, references: Embeddings) -> CaptureOutcome:
        return capture_outcome(self.live.process(capture), references, watchlist=self.watchlist)
