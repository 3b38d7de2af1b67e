"""The 8-bit codes and their error bounds: the scan graph's approximate scores, run by ONNX
Runtime, stay within the bound of the true float64 scores for any templates and queries the
matcher accepts, in both graph kinds (one query, a batch)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

from biometrics.matcher.codes import (
    NARROW,
    NEG_HALF_SQ_NORM,
    SCALE,
    WIDE,
    ZERO_SUM,
    QueryRange,
    encode_queries,
    encode_templates,
    rounding_bound,
)
from biometrics.matcher.graphs import code_search_graph
from biometrics.matcher.vectors import MAX_ABS_VALUE


def approximate_scores(
    templates: np.ndarray, queries: np.ndarray, *, single: bool, query_range: QueryRange = WIDE
) -> np.ndarray:
    """(B, n) approximate scores from the scan graph itself (group 1, k = n: every score; the
    one-query graph's joined row of scores, made an output here, as its own outputs are the
    templates it selects)."""
    codes, terms = encode_templates(templates)
    coded = encode_queries(queries, query_range)
    graph = code_search_graph(
        templates.shape[1],
        blocks=1,
        group=1,
        single=single,
        query_zero_point=query_range.zero_point,
    )
    if single:
        row = helper.make_tensor_value_info("all_scores0", TensorProto.FLOAT, [1, len(templates)])
        graph.graph.output.append(row)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {
        "queries": coded.codes,
        "scale": np.array(coded.scale, np.float32),
        "k": np.array([len(templates)], np.int64),
        "slack": np.zeros((len(queries), 1), np.float32),
        "lowest": np.full((len(queries), 1), -np.inf, np.float32),
    }
    columns = {
        "codes0": np.ascontiguousarray(codes.T),
        "scales0": terms[SCALE],
        "neg_half_sq_norms0": terms[NEG_HALF_SQ_NORM],
    }
    if single:
        # One stack of one block: codes (1, dim, n), each term (1, 1, n).
        rows = {"scales0": SCALE, "neg_half_sq_norms0": NEG_HALF_SQ_NORM, "zero_sums0": ZERO_SUM}
        columns = {
            "codes0": columns["codes0"][None],
            **{name: terms[row][None, None] for name, row in rows.items()},
            "member_k": np.array([len(templates)], np.int64),
        }
        feed.update(columns)
        (joined,) = session.run(["all_scores0"], feed)
        return joined.astype(np.float64)
    feed.update(columns)
    values, order = session.run(["scores", "groups"], feed)
    scores = np.empty_like(values, dtype=np.float64)
    np.put_along_axis(scores, order, values, axis=1)
    return scores


def error_bounds(
    templates: np.ndarray, queries: np.ndarray, query_range: QueryRange = WIDE
) -> np.ndarray:
    """(B, n) the bound the search uses, per template (the search takes a run's largest)."""
    _, terms = encode_templates(templates)
    coded = encode_queries(queries, query_range)
    half = -terms[NEG_HALF_SQ_NORM].astype(np.float64)
    norms = np.sqrt(np.square(queries.astype(np.float64)).sum(axis=1))[:, None]
    rounding = rounding_bound(templates.shape[1], norms, half)
    return coded.errors[:, None] * terms[2] + norms * terms[3] + rounding


def true_scores(templates: np.ndarray, queries: np.ndarray) -> np.ndarray:
    g, q = templates.astype(np.float64), queries.astype(np.float64)
    return q @ g.T - 0.5 * np.square(g).sum(axis=1)


elements = st.one_of(
    st.floats(-1, 1, width=32),
    st.floats(-MAX_ABS_VALUE, MAX_ABS_VALUE, width=32),
    st.sampled_from([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, MAX_ABS_VALUE]),
)


@settings(max_examples=120, deadline=None)
@given(
    dim=st.integers(1, 160),
    n=st.integers(1, 40),
    b=st.integers(1, 6),
    query_range=st.sampled_from([WIDE, NARROW]),
    data=st.data(),
)
def test_approximate_scores_lie_within_the_bound(
    dim: int, n: int, b: int, query_range: QueryRange, data: st.DataObject
) -> None:
    templates = data.draw(hnp.arrays(np.float32, (n, dim), elements=elements))
    queries = data.draw(hnp.arrays(np.float32, (b, dim), elements=elements))
    truth = true_scores(templates, queries)
    bound = error_bounds(templates, queries, query_range)
    for single in [True, False] if b == 1 else [False]:
        approx = approximate_scores(templates, queries, single=single, query_range=query_range)
        assert np.all(np.abs(approx - truth) <= bound), (
            single,
            np.max(np.abs(approx - truth) - bound),
        )


@pytest.mark.parametrize(("query_range", "fraction"), [(WIDE, 0.35), (NARROW, 0.5)])
def test_the_bound_is_tight_enough_to_prune_on_descriptors(
    query_range: QueryRange, fraction: float
) -> None:
    # 128-d unit vectors, like dlib descriptors: the bound must be a small fraction of the
    # spread of scores, or the search would re-rank most of the gallery. Narrow query codes
    # double the query's rounding, one of the bound's two terms.
    rng = np.random.default_rng(0)
    templates = rng.standard_normal((2000, 128)).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    queries = templates[:8] + rng.normal(0, 0.01, (8, 128)).astype(np.float32)
    bound = error_bounds(templates, queries, query_range)
    spread = true_scores(templates, queries).std()
    assert bound.max() < fraction * spread
    single = approximate_scores(templates, queries[:1], single=True, query_range=query_range)
    batch = approximate_scores(templates, queries, single=False, query_range=query_range)
    np.testing.assert_allclose(single[0], batch[0], atol=2 * bound.max())


def test_codes_of_known_values() -> None:
    templates = np.array([[1.0, -0.5, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    codes, terms = encode_templates(templates)
    np.testing.assert_array_equal(codes, [[127, -64, 32, 0], [0, 0, 0, 0]])
    assert terms[SCALE, 0] == np.float32(1 / 127)
    assert terms[SCALE, 1] == 1.0  # a zero template: any scale, codes zero, score exact
    assert terms[ZERO_SUM, 0] == 128 * (127 - 64 + 32)
    np.testing.assert_allclose(terms[NEG_HALF_SQ_NORM], [-0.5 * (1 + 0.25 + 0.0625), 0.0])
    coded = encode_queries(np.array([[0.5, -0.25, 0.0, 0.125]], np.float32))
    np.testing.assert_array_equal(coded.codes, [[128 + 127, 128 - 64, 128, 128 + 32]])
    assert coded.scale == np.float32(0.5 / 127)
    np.testing.assert_array_equal(coded.columns(), [[127], [-64], [0], [32]])
    narrow = encode_queries(np.array([[0.5, -0.25, 0.0, 0.125]], np.float32), NARROW)
    np.testing.assert_array_equal(narrow.codes, [[64 + 64, 64 - 32, 64, 64 + 16]])
    assert narrow.scale == np.float32(0.5 / 64)
    np.testing.assert_array_equal(narrow.columns(), [[64], [-32], [0], [16]])
