"""The search graphs' selection outputs: the best groups over several blocks of any width, the
scores of those groups' members, and every group within the slack of the k-th best (or above the
lowest score asked for), which the search keeps or drops one template at a time; and the one-query
graph's candidates, the templates themselves."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from hypothesis import given, settings
from hypothesis import strategies as st

from biometrics.matcher.graphs import code_search_graph, search_graph


@settings(max_examples=60, deadline=None)
@given(
    group=st.sampled_from([1, 2, 4, 16, 32]),
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    queries=st.integers(1, 5),
    data=st.data(),
)
def test_selection_outputs_are_the_best_groups_and_those_within_the_slack(
    group: int, counts: list[int], queries: int, data: st.DataObject
) -> None:
    dim = 6
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Small integers: float32 products are exact, so ties between groups are exact too.
    blocks = [rng.integers(-3, 4, (count * group, dim)).astype(np.float32) for count in counts]
    q = rng.integers(-3, 4, (queries, dim)).astype(np.float32)
    k = data.draw(st.integers(1, sum(counts)))
    graph = search_graph(dim, float16=False, blocks=len(blocks), group=group)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    slack = data.draw(st.lists(st.integers(0, 40), min_size=queries, max_size=queries))
    lowest = data.draw(
        st.lists(st.sampled_from([-np.inf, -20.0, 0.0, 5.0]), min_size=queries, max_size=queries)
    )
    feed = {
        "queries": q,
        "k": np.array([k], np.int64),
        "slack": np.array(slack, np.float32)[:, None],
        "lowest": np.array(lowest, np.float32)[:, None],
    }
    for i, block in enumerate(blocks):
        feed[f"block{i}"] = block
        feed[f"half_sq_norms{i}"] = 0.5 * np.square(block).sum(axis=1)
    scores, numbers, members, pairs, selected = session.run(None, feed)

    everything = np.concatenate(blocks)
    expected = q @ everything.T - 0.5 * np.square(everything).sum(axis=1)
    grouped = expected.reshape(queries, -1, group)
    assert members.shape == (queries, k, group)
    np.testing.assert_array_equal(members, grouped[np.arange(queries)[:, None], numbers])
    np.testing.assert_array_equal(scores, members.max(axis=2))
    # The k best group maxima, in descending order.
    best = -np.sort(-grouped.max(axis=2), axis=1)[:, :k]
    np.testing.assert_array_equal(scores, best)
    # Every group whose maximum reaches max(k-th best - slack, lowest), each once.
    cut = np.maximum(best[:, -1] - np.array(slack), np.array(lowest))
    expected_pairs = np.argwhere(grouped.max(axis=2) >= cut[:, None]).T
    order = np.lexsort((pairs[1], pairs[0]))
    np.testing.assert_array_equal(pairs[:, order], expected_pairs)
    np.testing.assert_array_equal(selected[order], grouped[expected_pairs[0], expected_pairs[1]])


@settings(max_examples=60, deadline=None)
@given(
    group=st.sampled_from([1, 2, 4, 32]),
    stacked=st.integers(1, 3),
    width=st.integers(1, 3),
    data=st.data(),
)
def test_one_query_candidates_reach_the_kth_best_member_less_the_slack(
    group: int, stacked: int, width: int, data: st.DataObject
) -> None:
    """The one-query graph over a stack of blocks returns, ascending, every template whose
    approximate score reaches max(the member_k-th best score among the members of the k best
    groups - slack, lowest), and no other."""
    dim = 6
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    columns = width * group
    groups = stacked * width
    # Small integers: the graph's float32 steps are exact, so ties are exact too.
    codes = rng.integers(-3, 4, (stacked, dim, columns)).astype(np.int8)
    zero_sums = rng.integers(-4, 5, (stacked, 1, columns)).astype(np.float32)
    scales = rng.integers(1, 3, (stacked, 1, columns)).astype(np.float32)
    halves = rng.integers(-6, 1, (stacked, 1, columns)).astype(np.float32)
    if data.draw(st.booleans()):
        halves[-1, 0, -data.draw(st.integers(1, columns)) :] = -np.inf  # padding
    queries = rng.integers(0, 6, (1, dim)).astype(np.uint8)
    k = data.draw(st.integers(1, 2 * groups * group))
    best_groups = min(k, groups)
    member_k = min(k, best_groups * group)
    slack = float(data.draw(st.integers(0, 30)))
    lowest = data.draw(st.sampled_from([-np.inf, -20.0, 0.0, 5.0]))
    graph = code_search_graph(dim, blocks=1, group=group, single=True)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    (candidates,) = session.run(
        None,
        {
            "queries": queries,
            "scale": np.array(1.0, np.float32),
            "codes0": codes,
            "scales0": scales,
            "zero_sums0": zero_sums,
            "neg_half_sq_norms0": halves,
            "k": np.array([best_groups], np.int64),
            "member_k": np.array([member_k], np.int64),
            "slack": np.array([[slack]], np.float32),
            "lowest": np.array([[lowest]], np.float32),
        },
    )

    products = np.einsum("d,ndc->nc", queries[0].astype(np.int64), codes.astype(np.int64))
    scores = ((products - zero_sums[:, 0]) * scales[:, 0] + halves[:, 0]).reshape(-1)
    grouped = scores.reshape(-1, group)
    chosen = np.argsort(-grouped.max(axis=1), kind="stable")[:best_groups]
    kth = np.sort(grouped[chosen].reshape(-1))[::-1][member_k - 1]
    cut = max(kth - slack, lowest)
    np.testing.assert_array_equal(candidates, np.flatnonzero(scores >= cut))
