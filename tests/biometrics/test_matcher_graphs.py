"""The search graphs' selection outputs: the best groups over several blocks of any width and
the scores of those groups' members, which the search keeps or drops one template at a time."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from hypothesis import given, settings
from hypothesis import strategies as st

from biometrics.matcher.graphs import search_graph


@settings(max_examples=60, deadline=None)
@given(
    group=st.sampled_from([2, 4, 16]),
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    queries=st.integers(1, 5),
    data=st.data(),
)
def test_members_are_the_scores_of_the_returned_groups(
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
    feed = {"queries": q, "k": np.array([k], np.int64)}
    for i, block in enumerate(blocks):
        feed[f"block{i}"] = block
        feed[f"half_sq_norms{i}"] = 0.5 * np.square(block).sum(axis=1)
    scores, numbers, members = session.run(None, feed)

    everything = np.concatenate(blocks)
    expected = q @ everything.T - 0.5 * np.square(everything).sum(axis=1)
    grouped = expected.reshape(queries, -1, group)
    assert members.shape == (queries, k, group)
    np.testing.assert_array_equal(members, grouped[np.arange(queries)[:, None], numbers])
    np.testing.assert_array_equal(scores, members.max(axis=2))
    # The k best group maxima, in descending order.
    best = -np.sort(-grouped.max(axis=2), axis=1)[:, :k]
    np.testing.assert_array_equal(scores, best)
