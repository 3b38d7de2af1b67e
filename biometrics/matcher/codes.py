"""8-bit codes of templates and queries, with the error bounds that keep a search exact.

A CPU search scans codes, not the stored floats: each template g is kept beside its float32 or
float16 values as int8 codes c with a per-template scale s (s = max|g_j| / 127, c = round(g/s)),
128 bytes a 128-d template instead of 512 or 256, and each query q is cut to codes n with one
scale t for the batch. The scan's approximate score ``t*s*(n.c) - |g|^2/2`` then differs from
the true score ``q.g - |g|^2/2`` by at most

    |f| * s|c|  +  |q| * |g - s*c|  +  float32 rounding

where f = q - t*n is the query's own rounding error (Cauchy-Schwarz on
``q.g = t*s*(n.c) + s*(f.c) + q.(g - s*c)``). The template factors s|c| and |g - s*c| are stored
per template (rounded up), the query factors computed per query, so the search knows, for every
approximate score, an interval that holds the true one, and can re-rank in float64 every
template that could belong in the top k: the result is exact, not probably exact.

This is the VA-file idea (Weber et al., VLDB 1998) with one scale per template. For d = 128
unit-norm descriptors the bound is ~0.016 on a score whose spread between templates is ~0.09,
so a search of a million templates re-ranks a few dozen.

The bound holds only if the int8 product n.c itself is exact. On x86 CPUs without VNNI (AVX2
only: Haswell to Skylake, Zen 1-3) ONNX Runtime's uint8 x int8 kernel adds each pair of
byte products into int16 with saturation (``vpmaddubsw``), and 255 * 127 * 2 overflows it:
under an emulated Haswell one query's product came out 2,097,088 for 4,145,280, and the
search returned the wrong nearest template. There the queries take `NARROW` codes, whose
pairs of products stay within int16 whatever the templates' codes (see `QueryRange`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics import runtime

CODE_MAX = 127
# The query's codes are fed as uint8 with this offset (ONNX Runtime's int8 matrix products take
# an unsigned left operand); the graph subtracts ZERO_POINT * sum(c) per template.
ZERO_POINT = 128
# Rows of the per-template terms array, (5, n) float32.
SCALE, ZERO_SUM, CODE_NORM, RESIDUAL, NEG_HALF_SQ_NORM = range(5)
TERM_ROWS = 5
# float32 rounding allowance, relative to |q|*max|g| + max |g|^2/2: a float32 dot product of n
# terms errs by at most ~n * 2^-24 of its absolute sum (Higham's gamma_n), every other step of
# the graph by 2^-24. 1e-4 covers d <= ~800 with a wide margin and costs ~1% of a bound.
ROUNDING = 1e-4
# Smallest scale used: float32's smallest normal number (below it, scales lose precision).
_TINY_SCALE = float(np.finfo(np.float32).tiny)
# Stored bounds are rounded up by this factor, beyond float32's 6e-8 relative rounding.
ROUND_UP = 1.0 + 1e-6


# Absolute allowance for scores near float32's underflow (|g|^2/2 of a 1e-30 vector is 0).
TINY = 1e-30


def rounding_bound(dim: int, norms: Any, half_sq_norms: Any) -> Any:
    """Bound on the float32 rounding error of scores q.g - |g|^2/2 of `dim`-element vectors,
    from |q| and |g|^2/2 (float64 arrays that broadcast): see ROUNDING."""
    allowance = max(ROUNDING, 4.0 * dim * 2.0**-24)
    return allowance * (norms * np.sqrt(2.0 * half_sq_norms) + half_sq_norms) + TINY


def encode_templates(
    stored: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Codes and terms of (n, dim) stored templates (float32 or float16 values).

    Returns (n, dim) int8 codes and (TERM_ROWS, n) float32 terms: the scale s, ZERO_POINT *
    sum(c), s*|c| and |g - s*c| (both rounded up), and -|g|^2/2. A zero template gets scale 1
    and zero codes, so its approximate score is exact (so does one too small for a normal
    float32 scale, whose whole value is then the residual).
    """
    g = np.asarray(stored, np.float64)
    top = np.abs(g).max(axis=1) if g.shape[1] else np.zeros(len(g))
    # The graph multiplies by the float32 scale, so codes and residuals are taken against it.
    # A template too small for a normal float32 scale (|g_j| < ~1.5e-36) is coded as zero; its
    # residual, all of it, is then in the bound.
    scale = np.where(top / CODE_MAX >= _TINY_SCALE, top / CODE_MAX, 1.0)
    scale = scale.astype(np.float32).astype(np.float64)
    codes = np.clip(np.rint(g / scale[:, None]), -CODE_MAX, CODE_MAX)
    residual = np.sqrt(np.square(g - scale[:, None] * codes).sum(axis=1))
    terms = np.empty((TERM_ROWS, len(g)), np.float32)
    terms[SCALE] = scale
    terms[ZERO_SUM] = ZERO_POINT * codes.sum(axis=1)
    terms[CODE_NORM] = scale * np.sqrt(np.square(codes).sum(axis=1)) * ROUND_UP
    terms[RESIDUAL] = residual * ROUND_UP
    terms[NEG_HALF_SQ_NORM] = -0.5 * np.square(g).sum(axis=1)
    return codes.astype(np.int8), terms


class CodesLayout(enum.Enum):
    """How a gallery stores its codes, chosen for the int8 matrix product of the host.

    ONNX Runtime's int8 product (MLAS) copies its right operand into its own packed format on
    every call and reads its left operand in place. COLUMNS keeps the codes as (dim, C) int8
    columns, the right operand of ``query @ codes``: on AVX-512 VNNI that packing streams the
    codes, one query against 65,536 templates in ~0.3 ms on one core. Where ONNX Runtime runs
    its int8 products on AMX (only if allowed, see biometrics.runtime), MLAS packs into AMX
    tiles instead, ~5x slower (1.65 ms); ROWS keeps the codes as (C, dim) rows, offset to
    uint8 (c + ZERO_POINT), the left operand of ``codes @ query``, so only the query is
    packed: 0.49 ms with AMX, but 0.81 ms without it (one lane of the kernel's 16 columns
    used). Measured on one core of a 2-core Intel Xeon with AMX, with AMX and with it refused
    to ONNX Runtime. With AMX, COLUMNS still wins batches (1M templates, B = 64: 517 against
    456 queries/s), so ROWS only pays where one-query searches on AMX matter most.
    """

    COLUMNS = "columns"
    ROWS = "rows"


def preferred_layout() -> CodesLayout:
    """The layout new galleries take in this process unless told otherwise: ROWS where its
    ONNX Runtime runs int8 products on AMX (`biometrics.runtime.int8_uses_amx`, which loads
    ONNX Runtime if nothing has yet), else COLUMNS."""
    return CodesLayout.ROWS if runtime.int8_uses_amx() else CodesLayout.COLUMNS


def as_rows(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.uint8]:
    """(n, dim) int8 codes c as ROWS stores them: uint8 c + ZERO_POINT (flipping the sign
    bit of each byte is that addition)."""
    return np.bitwise_xor(codes.view(np.uint8), np.uint8(ZERO_POINT))


@dataclass(frozen=True)
class QueryRange:
    """The range of a query's codes n, |n| <= `code_max`, and the offset that makes them the
    uint8 operand of a COLUMNS product (n + `zero_point`; a ROWS product takes n as int8).

    `WIDE` uses the full int8 range. `NARROW` is for an int8 product that saturates pairs of
    byte products at int16 (x86 without VNNI): uint8 n + 64 <= 128 against int8 codes
    |c| <= 127 (COLUMNS), and int8 |n| <= 64 against uint8 c + 128 <= 255 (ROWS), keep every
    pair within 2 * 128 * 127 = 32,512 and 2 * 255 * 64 = 32,640, under 32,767. The query's
    rounding error then doubles; the templates' codes and the rest of the bound are the same.
    """

    code_max: int
    zero_point: int


WIDE = QueryRange(CODE_MAX, ZERO_POINT)
NARROW = QueryRange(64, 64)


@dataclass(frozen=True)
class QueryCodes:
    """A batch of queries cut to codes: `codes` (B, dim) uint8 (n + `zero_point`), `scale`
    the batch's float32 scale t, `errors` (B,) float64 |q - t*n| and `norms` (B,) float64 |q|."""

    codes: npt.NDArray[np.uint8]
    zero_point: int
    scale: np.float32
    errors: npt.NDArray[np.float64]
    norms: npt.NDArray[np.float64]

    def columns(self) -> npt.NDArray[np.int8]:
        """(dim, B) int8 n: the right operand of ``codes @ queries`` for ROWS galleries (the
        uint8 subtraction wraps to n's two's complement bytes)."""
        n = self.codes - np.uint8(self.zero_point)
        return np.ascontiguousarray(n.view(np.int8).T)


def encode_queries(queries: npt.NDArray[np.float32], query_range: QueryRange = WIDE) -> QueryCodes:
    """Codes of a (B, dim) float32 batch with one scale (an int8 product takes one scale for
    its left operand): max |q_j| over the batch / `query_range.code_max`. Written in few numpy
    calls: a one-query search spends more on each call's overhead than on its arithmetic."""
    q = queries.astype(np.float64)
    most = query_range.code_max
    top = float(np.abs(queries).max()) if q.size else 0.0
    scale = np.float32(top / most if top / most >= _TINY_SCALE else 1.0)
    n = np.rint(q / float(scale))
    np.clip(n, -most, most, out=n)
    rounding = n * float(scale)
    rounding -= q
    errors = np.sqrt(np.square(rounding).sum(axis=1)) * ROUND_UP
    norms = np.sqrt(np.square(q).sum(axis=1))
    n += query_range.zero_point
    return QueryCodes(n.astype(np.uint8), query_range.zero_point, scale, errors, norms)
