"""The query codes the host's int8 product multiplies exactly (see codes.QueryRange).

ONNX Runtime picks its uint8 x int8 kernel by CPU feature as it loads. With AVX-512 VNNI,
AVX-VNNI or AMX it accumulates byte products in int32, exact for any operands; with AVX2 or
AVX-512 without VNNI it first adds each pair of products into int16 with saturation, and a
full-range query overflows it. Rather than guess the kernel from CPU flags (a flag, an
onnxruntime version or a virtual machine's CPU model could each change the choice), the first
CPU searcher of a process runs the scan's own products (with the zero points the scan gives
them) on the widest operands each range feeds them, and on random ones, and compares them with
numpy's (35-44 ms, once a process). A searcher made with ``narrow_codes=True`` takes narrow
codes without asking (to measure them on a host with VNNI); full-range codes are only ever
taken where the probe finds them exact.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics import runtime
from biometrics.matcher.codes import CODE_MAX, NARROW, WIDE, ZERO_POINT, QueryRange
from biometrics.matcher.errors import InexactProduct
from biometrics.matcher.graphs import int8_product_probe_graph

log = logging.getLogger(__name__)

# Probe shapes: a full K panel of ONNX Runtime's kernels, several of their column panels, and
# a batch taller than their row panels, so each product takes the path a search takes.
PROBE_DIM = 128
PROBE_TEMPLATES = 256
PROBE_QUERIES = 64


@functools.cache
def host_query_range() -> QueryRange:
    """WIDE where this process's ONNX Runtime multiplies the scan's int8 operands exactly,
    else NARROW (logged once). Raises InexactProduct if even NARROW operands come out wrong."""
    ort = runtime.onnxruntime()
    session = runtime.single_threaded_session(int8_product_probe_graph(PROBE_DIM))
    random = np.random.default_rng(0)
    for query_range in (WIDE, NARROW):
        feeds = [_extreme_feed(query_range, sign) for sign in (1, -1)]
        feeds.append(_random_feed(query_range, random))
        if all(_exact(session, feed) for feed in feeds):
            if query_range is NARROW:
                log.warning(
                    "onnxruntime %s saturates int8 products on this CPU (no VNNI): query "
                    "codes narrowed to |n| <= %d, so searches stay exact with wider bounds",
                    ort.__version__,
                    NARROW.code_max,
                )
            return query_range
    raise InexactProduct(ort.__version__)


def _extreme_feed(query_range: QueryRange, sign: int) -> dict[str, npt.NDArray[Any]]:
    """The largest products the range allows: the largest uint8 query code (n + zero point)
    against int8 codes of +-CODE_MAX, and uint8 codes CODE_MAX + ZERO_POINT against int8
    query codes of +-code_max."""
    top = query_range.zero_point + query_range.code_max
    return {
        "one": np.full((1, PROBE_DIM), top, np.uint8),
        "many": np.full((PROBE_QUERIES, PROBE_DIM), top, np.uint8),
        "codes": np.full((PROBE_DIM, PROBE_TEMPLATES), sign * CODE_MAX, np.int8),
        "rows": np.full((PROBE_TEMPLATES, PROBE_DIM), ZERO_POINT + CODE_MAX, np.uint8),
        "column": np.full((PROBE_DIM, 1), sign * query_range.code_max, np.int8),
        "columns": np.full((PROBE_DIM, PROBE_QUERIES), sign * query_range.code_max, np.int8),
        "zero_point": np.array(query_range.zero_point, np.uint8),
    }


def _random_feed(
    query_range: QueryRange, random: np.random.Generator
) -> dict[str, npt.NDArray[Any]]:
    """Operands drawn uniformly from the range's codes and the templates' codes."""
    most = query_range.code_max
    low, high = query_range.zero_point - most, query_range.zero_point + most + 1
    lowest, highest = ZERO_POINT - CODE_MAX, ZERO_POINT + CODE_MAX + 1
    return {
        "one": random.integers(low, high, (1, PROBE_DIM), np.uint8),
        "many": random.integers(low, high, (PROBE_QUERIES, PROBE_DIM), np.uint8),
        "codes": random.integers(-CODE_MAX, CODE_MAX + 1, (PROBE_DIM, PROBE_TEMPLATES), np.int8),
        "rows": random.integers(lowest, highest, (PROBE_TEMPLATES, PROBE_DIM), np.uint8),
        "column": random.integers(-most, most + 1, (PROBE_DIM, 1), np.int8),
        "columns": random.integers(-most, most + 1, (PROBE_DIM, PROBE_QUERIES), np.int8),
        "zero_point": np.array(query_range.zero_point, np.uint8),
    }


def _exact(session: Any, feed: dict[str, npt.NDArray[Any]]) -> bool:
    single, batch, rows_single, rows_batch = session.run(None, feed)
    wide = {name: array.astype(np.int64) for name, array in feed.items()}
    offset_rows = wide["rows"] - ZERO_POINT
    return (
        np.array_equal(single, wide["one"] @ wide["codes"])
        and np.array_equal(batch, (wide["many"] - wide["zero_point"]) @ wide["codes"])
        and np.array_equal(rows_single, offset_rows @ wide["column"])
        and np.array_equal(rows_batch, offset_rows @ wide["columns"])
    )
