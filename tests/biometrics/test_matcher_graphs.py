"""The search graphs' selection outputs: the best groups over several blocks of any width, the
scores of those groups' members, and every group within the slack of the k-th best (or above the
lowest score asked for), which the search keeps or drops one template at a time."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from hypothesis import given, settings
from hypothesis import strategies as st

from biometrics.matcher.graphs import search_graph


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
