"""The matcher: 1:1 verification and exact 1:N search of dlib face descriptors, as ONNX graphs
run by ONNX Runtime (CPU, or CUDA with the gallery resident on the device).

Distances are Euclidean distances between raw (unnormalised) 128-d descriptors, lower is more
similar, 0.6 is dlib's threshold. Importing this package creates no session.

    from biometrics.matcher import Gallery, Searcher, verify
    gallery = Gallery.create("var/gallery")          # or Gallery.open(...)
    gallery.add(["P123"], descriptors)               # (1, 128) float32
    hits = Searcher(gallery).search(live, k=5, threshold=0.6)   # list[list[Hit]]
    verify(live, templates).matches                  # (B,) bool
"""

from biometrics.embedding import Provider, ProviderUnavailable
from biometrics.matcher.errors import (
    DimensionMismatch,
    DuplicateId,
    EmptyGallery,
    GalleryFileError,
    InexactProduct,
    InvalidArgument,
    InvalidId,
    MatcherError,
    MemoryLockRefused,
    NonFiniteValue,
    UnknownId,
    ValueOutOfRange,
)
from biometrics.matcher.gallery import Block, Gallery, GalleryDtype
from biometrics.matcher.search import Hit, Searcher
from biometrics.matcher.verify import (
    DEFAULT_THRESHOLD,
    Verifier,
    VerifyResult,
    threshold_at_fmr,
    verify,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "Block",
    "DimensionMismatch",
    "DuplicateId",
    "EmptyGallery",
    "Gallery",
    "GalleryDtype",
    "GalleryFileError",
    "Hit",
    "InexactProduct",
    "InvalidArgument",
    "InvalidId",
    "MatcherError",
    "MemoryLockRefused",
    "NonFiniteValue",
    "Provider",
    "ProviderUnavailable",
    "Searcher",
    "UnknownId",
    "ValueOutOfRange",
    "Verifier",
    "VerifyResult",
    "threshold_at_fmr",
    "verify",
]
