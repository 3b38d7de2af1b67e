"""Checks on what crosses the matcher's boundary: (n, dim) finite float32 arrays, thresholds."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics import runtime
from biometrics.matcher.errors import (
    DimensionMismatch,
    InvalidArgument,
    NonFiniteValue,
    ValueOutOfRange,
)
from biometrics.matcher.graphs import widening_graph

Vectors = npt.NDArray[np.float32]

# Largest |element| accepted in a query or template. A dlib descriptor's elements lie within
# +/-1; at 1e4 a 128-d vector's |g|^2 (1.3e10) and every score stay far inside float32, and a
# float16 gallery stores the value (its largest is 65504). Beyond that, scores overflow or lose
# every significant digit and the float32 ranking before the float64 re-rank is no longer sound.
MAX_ABS_VALUE = 1e4


def as_vectors(values: Any, dim: int, what: str) -> Vectors:
    """`values` as a C-contiguous (n, dim) float32 array; n may be 0.

    Raises DimensionMismatch for any other shape (a single (dim,) vector included: the caller
    says how many rows it means), NonFiniteValue for NaN/inf and ValueOutOfRange for a finite
    value beyond +/-MAX_ABS_VALUE; the first offending row (in row order) is named.
    """
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != dim:
        raise DimensionMismatch(what, f"(n, {dim})", tuple(int(s) for s in array.shape))
    # f, i, u: real floating and integer types (not bool, complex, object or strings).
    if array.dtype.kind not in "fiu":
        raise DimensionMismatch(what, f"(n, {dim}) real numbers, not {array.dtype}", array.shape)
    # One reduction when all is well (NaN makes the maximum NaN, which fails the test); the
    # offending row is looked for only when it is not. The values are checked as given: a
    # float32 cast could round 10000.0001 into range.
    if array.size:
        real = array if array.dtype.kind == "f" else array.astype(np.float64)
        if not np.abs(real).max() <= MAX_ABS_VALUE:
            _raise_first_bad(real, what)
    return np.ascontiguousarray(array, dtype=np.float32)


def _raise_first_bad(array: npt.NDArray[np.floating[Any]], what: str) -> None:
    """Raises for the first (in row order) NaN/inf or value beyond +/-MAX_ABS_VALUE of a
    float array (integers come widened to float64: |int64 min| wraps around as an integer)."""
    bad = ~(np.abs(array) <= MAX_ABS_VALUE)  # NaN compares false, so it is caught too
    row, col = (int(i) for i in np.argwhere(bad)[0])
    value = float(array[row, col])
    if not math.isfinite(value):
        raise NonFiniteValue(what, row, value)
    raise ValueOutOfRange(what, row, value, MAX_ABS_VALUE)


def float16_to_float32(values: npt.NDArray[np.float16]) -> Vectors:
    """float16 values widened exactly to float32, in any shape, by ONNX Runtime's Cast: 3,457
    x 128 values (the float32 check of a 64-query search's kept templates) took 116 us with
    it, 601 us with numpy's float16 cast and 568 us with integer steps on the bits, on one
    core of an Intel Xeon (model 167)."""
    array = np.ascontiguousarray(values, np.float16)
    if array.size == 0:
        return np.empty(array.shape, np.float32)
    widened: Vectors = _widening_session().run(None, {"halves": array.reshape(-1)})[0]
    return widened.reshape(array.shape)


@functools.cache
def _widening_session() -> Any:
    """One Cast session a process (run() is thread-safe), on the calling thread."""
    return runtime.single_threaded_session(widening_graph())


def stored_as_float32(stored: npt.NDArray[Any]) -> Vectors:
    """Stored float32 or float16 templates as float32 (float16 widened exactly)."""
    if stored.dtype == np.float16:
        return float16_to_float32(stored)
    return np.asarray(stored, np.float32)


def check_threshold(threshold: float) -> float:
    """`threshold` as a float Euclidean distance; InvalidArgument unless a finite number >= 0."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.floating):
        raise InvalidArgument("threshold", threshold, "must be a number")
    if not math.isfinite(threshold) or threshold < 0:
        raise InvalidArgument("threshold", threshold, "must be a finite distance >= 0")
    return float(threshold)
