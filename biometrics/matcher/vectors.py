"""Checks on what crosses the matcher's boundary: (n, dim) finite float32 arrays, thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.matcher.errors import DimensionMismatch, InvalidArgument, NonFiniteValue

Vectors = npt.NDArray[np.float32]


def as_vectors(values: Any, dim: int, what: str) -> Vectors:
    """`values` as a C-contiguous (n, dim) float32 array; n may be 0.

    Raises DimensionMismatch for any other shape (a single (dim,) vector included: the caller
    says how many rows it means) and NonFiniteValue for NaN/inf, also for float64 values that
    overflow float32.
    """
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != dim:
        raise DimensionMismatch(what, f"(n, {dim})", tuple(int(s) for s in array.shape))
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DimensionMismatch(what, f"(n, {dim}) real numbers, not {array.dtype}", array.shape)
    _require_finite(array, what)
    return np.ascontiguousarray(array, dtype=np.float32)


def _require_finite(array: npt.NDArray[Any], what: str) -> None:
    if array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        return
    # Beyond float32's range a value would become inf when stored.
    bad = ~(np.abs(array) <= np.finfo(np.float32).max)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteValue(what, row, float(array[row, col]))


def check_threshold(threshold: float) -> float:
    """`threshold` as a float Euclidean distance; InvalidArgument unless a finite number >= 0."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.floating):
        raise InvalidArgument("threshold", threshold, "must be a number")
    if not math.isfinite(threshold) or threshold < 0:
        raise InvalidArgument("threshold", threshold, "must be a finite distance >= 0")
    return float(threshold)
