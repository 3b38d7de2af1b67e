"""The matcher's input check (`as_vectors`) on arbitrary arrays: it accepts exactly the (n, dim)
real arrays whose every element is within the descriptor range, and otherwise names the first
offending row with the right error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from biometrics.matcher import DimensionMismatch, NonFiniteValue, ValueOutOfRange
from biometrics.matcher.vectors import MAX_ABS_VALUE, as_vectors, float16_to_float32

DIM = 4

elements = st.one_of(
    st.floats(-2 * MAX_ABS_VALUE, 2 * MAX_ABS_VALUE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([MAX_ABS_VALUE, -MAX_ABS_VALUE, 1e39, -0.0]),
)


@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 6), st.just(DIM)), elements=elements))
def test_accepts_in_range_arrays_and_names_the_first_bad_row(values: np.ndarray) -> None:
    bad_rows = [
        r for r in range(len(values)) if not all(abs(v) <= MAX_ABS_VALUE for v in values[r])
    ]
    if not bad_rows:
        out = as_vectors(values, DIM, "queries")
        assert out.dtype == np.float32
        assert out.flags.c_contiguous
        assert out.shape == values.shape
        np.testing.assert_array_equal(out, values.astype(np.float32))
        return
    with pytest.raises((NonFiniteValue, ValueOutOfRange)) as caught:
        as_vectors(values, DIM, "queries")
    error = caught.value
    assert isinstance(error, NonFiniteValue | ValueOutOfRange)
    assert error.row == bad_rows[0]
    assert str(error).startswith(f"queries: row {bad_rows[0]} ")
    if isinstance(error, ValueOutOfRange):
        assert math.isfinite(error.value)
        assert abs(error.value) > MAX_ABS_VALUE
    else:
        assert not math.isfinite(error.value)


@given(st.integers(-(2**63), 2**63 - 1))
def test_integer_values_are_checked_like_floats(value: int) -> None:
    values = np.zeros((2, DIM), np.int64)
    values[1, 0] = value
    if abs(value) <= MAX_ABS_VALUE:
        assert as_vectors(values, DIM, "templates")[1, 0] == value
    else:
        with pytest.raises(ValueOutOfRange, match="templates: row 1 holds"):
            as_vectors(values, DIM, "templates")


@pytest.mark.parametrize("shape", [(DIM,), (2, DIM + 1), (1, 2, DIM)])
def test_other_shapes_are_a_dimension_mismatch(shape: tuple[int, ...]) -> None:
    with pytest.raises(DimensionMismatch) as caught:
        as_vectors(np.zeros(shape), DIM, "live")
    assert caught.value.shape == shape


def test_float16_widening_is_exact_for_every_finite_half() -> None:
    """Every finite float16 (subnormals, both zeros, +/-65504) widens to numpy's float32 value,
    sign of zero included, in any shape."""
    halves = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite = halves[np.isfinite(halves)].reshape(-1, 31)
    widened = float16_to_float32(finite)
    expected = finite.astype(np.float32)
    assert widened.dtype == np.float32
    assert widened.shape == finite.shape
    assert np.array_equal(widened.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("shape", [(0, DIM), (0,), (3, 2, 5), (7,)])
def test_float16_widening_keeps_any_shape_empty_included(shape: tuple[int, ...]) -> None:
    halves = np.random.default_rng(0).standard_normal(shape).astype(np.float16)
    widened = float16_to_float32(halves)
    assert widened.dtype == np.float32
    assert widened.shape == shape
    assert np.array_equal(widened, halves.astype(np.float32))
