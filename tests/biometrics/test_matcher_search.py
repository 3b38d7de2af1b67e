"""1:N search against a float64 numpy reference (random, integer-valued with exact ties,
float16), watchlist thresholds, following gallery changes, provider selection and errors."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biometrics.matcher import (
    DimensionMismatch,
    EmptyGallery,
    Gallery,
    GalleryDtype,
    Hit,
    InvalidArgument,
    NonFiniteValue,
    Provider,
    ProviderUnavailable,
    Searcher,
)
from biometrics.matcher.crew import Balance
from biometrics.matcher.rerank import Nearest, Reranker
from biometrics.matcher.search import _cuts

DIM = 128

# Every search runs on galleries of each codes layout, with the host's query codes and with
# narrow ones (those of a CPU without VNNI).
pytestmark = pytest.mark.usefixtures("each_codes_layout", "each_query_range")


def reference(
    gallery_vectors: np.ndarray, queries: np.ndarray, k: int
) -> list[list[tuple[int, float]]]:
    """Exact float64 k-NN: stable sort of true Euclidean distances (ties -> lower slot)."""
    g = gallery_vectors.astype(np.float64)
    result = []
    for q in queries.astype(np.float64):
        d = np.linalg.norm(g - q, axis=1)
        order = np.argsort(d, kind="stable")[:k]
        result.append([(int(i), float(d[i])) for i in order])
    return result


def within(
    expected: list[list[tuple[int, float]]], threshold: float | None
) -> list[list[tuple[int, float]]]:
    """`reference` hits less those beyond `threshold` when one is given (watchlist mode)."""
    if threshold is None:
        return expected
    return [[(i, d) for i, d in row if d <= threshold] for row in expected]


def assert_same(
    hits: list[list[Hit]], expected: list[list[tuple[int, float]]], ids: list[str]
) -> None:
    assert [[h.id for h in row] for row in hits] == [[ids[i] for i, _ in row] for row in expected]
    for row, exp in zip(hits, expected, strict=True):
        np.testing.assert_allclose(
            [h.distance for h in row], [d for _, d in exp], rtol=1e-12, atol=1e-12
        )


def small_integers(seed: int, n: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 8) templates and (b, 8) queries of integers in -2..2: float32 scores and float64
    distances are exact, so ties are real ties and a distance can equal a threshold exactly."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-2, 3, (n, 8)).astype(np.float32)
    return values, rng.integers(-2, 3, (b, 8)).astype(np.float32)


def _gallery(path: Path, values: np.ndarray, **kw: object) -> Gallery:
    gallery = Gallery.create(path, dim=values.shape[1], **kw)  # type: ignore[arg-type]
    gallery.add([f"g{i}" for i in range(len(values))], values)
    return gallery


def test_random_top_k_equals_the_float64_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(0, 0.12, (5000, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (17, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, block=1024) as gallery:
        hits = Searcher(gallery).search(queries, k=10)
        assert_same(hits, reference(values, queries, 10), gallery.ids)


def test_random_unit_vectors_at_default_block_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    values = rng.standard_normal((40_000, DIM)).astype(np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    queries = rng.standard_normal((64, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values) as gallery:
        hits = Searcher(gallery, threads=1).search(queries, k=5)
        assert_same(hits, reference(values, queries, 5), gallery.ids)


def test_a_template_finds_itself_at_distance_zero(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(0, 0.12, (300, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, block=64) as gallery:
        hits = Searcher(gallery).search(values[[5, 299]], k=1)
    assert hits == [[Hit("g5", 0.0)], [Hit("g299", 0.0)]]


def test_k_larger_than_the_gallery_returns_every_template(tmp_path: Path) -> None:
    values = np.random.default_rng(2).normal(0, 0.12, (7, DIM)).astype(np.float32)
    queries = values[:2] + 0.01
    with _gallery(tmp_path / "g", values, block=3) as gallery:
        hits = Searcher(gallery).search(queries, k=50)
        assert [len(row) for row in hits] == [7, 7]
        assert_same(hits, reference(values, queries, 50), gallery.ids)


def test_one_template_gallery(tmp_path: Path) -> None:
    values = np.full((1, DIM), 0.1, np.float32)
    with _gallery(tmp_path / "g", values) as gallery:
        hits = Searcher(gallery).search(np.zeros((1, DIM), np.float32), k=3)
    assert [h.id for h in hits[0]] == ["g0"]
    assert hits[0][0].distance == pytest.approx(0.1 * np.sqrt(DIM), rel=1e-6)


def test_exact_ties_go_to_the_lower_slot_across_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.12, (40, DIM)).astype(np.float32)
    twin = values[9].copy()
    for slot in (2, 14, 15, 27, 33, 38):  # six copies spread over blocks of 4
        values[slot] = twin
    with _gallery(tmp_path / "g", values, block=4) as gallery:
        searcher = Searcher(gallery)
        hits = searcher.search(np.stack([twin, twin + 0.05]), k=4)
        assert [h.id for h in hits[0]] == ["g2", "g9", "g14", "g15"]
        assert [h.distance for h in hits[0]] == [0.0] * 4
        assert_same(hits, reference(values, np.stack([twin, twin + 0.05]), 4), gallery.ids)


def test_neighbours_packed_into_a_few_groups_come_back_exactly(tmp_path: Path) -> None:
    # A batch search keeps groups of 16 consecutive slots by their best approximate score and
    # re-ranks their members, rescanning a run whose returned groups may not hold all: 35 near
    # copies of the query straddle group and block edges, one more sits in
    # the partly filled (padded) last block, and every k must still match the reference.
    rng = np.random.default_rng(12)
    values = rng.normal(0, 0.12, (1000, DIM)).astype(np.float32)
    query = values[500].copy()
    values[50:85] = query + rng.normal(0, 0.002, (35, DIM)).astype(np.float32)
    values[997] = query + np.float32(0.0001)
    batch = np.stack([query, values[60], values[3]])  # a batch takes the other graph
    with _gallery(tmp_path / "g", values, block=64) as gallery:
        searcher = Searcher(gallery)
        for k in (1, 2, 16, 17, 37, 40, 2, 1):  # wider, then narrower than the last search
            hits = searcher.search(query[None], k=k)
            assert_same(hits, reference(values, query[None], k), gallery.ids)
            assert_same(searcher.search(batch, k=k), reference(values, batch, k), gallery.ids)
        assert [h.id for h in searcher.search(query[None], k=2)[0]] == ["g500", "g997"]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    b=st.integers(1, 5),
    k=st.integers(1, 70),
    block=st.integers(1, 16),
    seed=st.integers(0, 2**32 - 1),
)
def test_integer_vectors_with_many_ties_match_the_reference(
    tmp_path_factory: pytest.TempPathFactory, n: int, b: int, k: int, block: int, seed: int
) -> None:
    values, queries = small_integers(seed, n, b)
    with _gallery(tmp_path_factory.mktemp("g") / "g", values, block=block) as gallery:
        hits = Searcher(gallery, threads=1).search(queries, k=k)
        assert_same(hits, reference(values, queries, k), gallery.ids)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 120),
    b=st.integers(1, 4),
    k=st.integers(1, 40),
    block=st.sampled_from([1, 5, 16, 32]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_watchlist_hits_are_the_reference_within_the_threshold(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    b: int,
    k: int,
    block: int,
    seed: int,
    data: st.DataObject,
) -> None:
    """The threshold also prunes groups inside the scan; a hit exactly at the threshold (exact
    distances of small integer vectors) is still returned."""
    values, queries = small_integers(seed, n, b)
    expected = reference(values, queries, k)
    distances = sorted({d for row in expected for _, d in row})
    threshold = data.draw(st.sampled_from([0.0, *distances, distances[-1] + 1.0]))
    with _gallery(tmp_path_factory.mktemp("g") / "g", values, block=block) as gallery:
        hits = Searcher(gallery, threads=2).search(queries, k=k, threshold=threshold)
        assert_same(hits, within(expected, threshold), gallery.ids)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 150),
    b=st.integers(1, 3),
    k=st.integers(1, 20),
    threads=st.integers(1, 3),
    threshold=st.sampled_from([None, 0.0, 2.0, 3.0, 4.5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_many_runs_prune_by_the_reach_of_finished_runs(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    b: int,
    k: int,
    threads: int,
    threshold: float | None,
    seed: int,
) -> None:
    """With a run a block, later runs leave out groups below what earlier runs already
    reached; the result is still the reference's, ties and threshold boundaries included."""
    values, queries = small_integers(seed, n, b)
    expected = within(reference(values, queries, k), threshold)
    with (
        pytest.MonkeyPatch.context() as patch,
        _gallery(tmp_path_factory.mktemp("g") / "g", values, block=4) as gallery,
    ):
        patch.setattr("biometrics.matcher.search.RUN_TEMPLATES", 4)
        searcher = Searcher(gallery, threads=threads)
        assert len(searcher._current_plan().runs) == max(1, n // 4)
        assert_same(searcher.search(queries, k=k, threshold=threshold), expected, gallery.ids)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 80),
    b=st.integers(1, 4),
    k=st.integers(1, 30),
    chunk=st.integers(1, 9),
    held=st.sampled_from([1, 40, 1 << 22]),
    threshold=st.sampled_from([None, 0.0, 2.0, 3.0]),
    threads=st.sampled_from([1, 2]),
    direct=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_kept_templates_reranked_a_chunk_at_a_time_match_the_reference(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    b: int,
    k: int,
    chunk: int,
    held: int,
    threshold: float | None,
    threads: int,
    direct: bool,
    seed: int,
) -> None:
    """Chunks of a few kept templates, their k best carried into the next, and settled while
    the runs (of 16) go on once more than `held` members are held (with two threads, by
    whichever worker handed them out, beside the other): exact ties split across chunks and
    runs still go to the lower slot. Without `direct`, every re-rank takes the chunked path
    with its float32 check, as a one-query run's many candidates (near-duplicates) do."""
    values, queries = small_integers(seed, n, b)
    expected = within(reference(values, queries, k), threshold)
    with (
        pytest.MonkeyPatch.context() as patch,
        _gallery(tmp_path_factory.mktemp("g") / "g", values, block=16) as gallery,
    ):
        patch.setattr("biometrics.matcher.rerank.RERANK_MEMBERS", chunk)
        patch.setattr("biometrics.matcher.rerank.SCAN_RERANK_MEMBERS", chunk)
        patch.setattr("biometrics.matcher.rerank.KEPT_MEMBERS", held)
        patch.setattr("biometrics.matcher.search.RUN_TEMPLATES", 16)
        if not direct:
            patch.setattr("biometrics.matcher.rerank.DIRECT_MEMBERS", 0)
            patch.setattr("biometrics.matcher.rerank.DIRECT_FLOOR", 0)
        hits = Searcher(gallery, threads=threads).search(queries, k=k, threshold=threshold)
        assert_same(hits, expected, gallery.ids)


def test_a_gallery_of_copies_is_reranked_in_bounded_memory(tmp_path: Path) -> None:
    """Every copy of a template lies within the error bound of the others, so all 30,000 are
    kept. Re-ranked all at once, one query's search peaked at 76 MiB of numpy temporaries
    (float64 differences); in chunks of 4,096 at 12 MiB."""
    rng = np.random.default_rng(21)
    twin = rng.normal(0, 0.12, DIM).astype(np.float32)
    values = np.concatenate(
        [
            rng.normal(0, 0.12, (500, DIM)),
            np.tile(twin, (30000, 1)),
            rng.normal(0, 0.12, (500, DIM)),
        ]
    ).astype(np.float32)
    queries = np.stack([twin + np.float32(0.001), values[3]])
    with (
        pytest.MonkeyPatch.context() as patch,
        _gallery(tmp_path / "g", values, block=4096) as gallery,
    ):
        patch.setattr("biometrics.matcher.rerank.RERANK_MEMBERS", 4096)
        searcher = Searcher(gallery, threads=1)
        for batch in (queries[:1], queries):
            searcher.search(batch, k=10)  # sessions made outside the measurement
            tracemalloc.start()
            try:
                hits = searcher.search(batch, k=10)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert_same(hits, reference(values, batch, 10), gallery.ids)
            assert [h.id for h in hits[0]] == [f"g{i}" for i in range(500, 510)]
            assert peak < 16 * 2**20, f"{peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("threads", [1, 2])
def test_a_scan_of_copies_holds_a_bounded_number_of_members(tmp_path: Path, threads: int) -> None:
    """Copies of one template, in runs of 4,096, and 8 queries near them: every copy is a
    member of every query's selection. Gathered after the scan (before rerank.Kept), the members
    of 30,000 copies took ~23 MiB of numpy temporaries and of 90,000 copies ~49 MiB; settled
    whenever more than 8,192 are held, both stay at the re-rank chunk's ~13 MiB for each
    worker settling at once, and the result is still the float64 reference's."""
    rng = np.random.default_rng(22)
    twin = rng.normal(0, 0.12, DIM).astype(np.float32)
    queries = twin + rng.normal(0, 0.001, (8, DIM)).astype(np.float32)
    peaks = []
    for copies in (30000, 90000):
        values = np.concatenate(
            [
                rng.normal(0, 0.12, (300, DIM)),
                np.tile(twin, (copies, 1)),
                rng.normal(0, 0.12, (300, DIM)),
            ]
        ).astype(np.float32)
        queries[-1] = values[5]  # one query that keeps only a few
        with (
            pytest.MonkeyPatch.context() as patch,
            _gallery(tmp_path / f"g{copies}", values, block=4096) as gallery,
        ):
            patch.setattr("biometrics.matcher.search.RUN_TEMPLATES", 4096)
            patch.setattr("biometrics.matcher.rerank.KEPT_MEMBERS", 8192)
            patch.setattr("biometrics.matcher.rerank.RERANK_MEMBERS", 4096)
            searcher = Searcher(gallery, threads=threads)
            assert len(searcher._current_plan().runs) >= copies // 4096
            searcher.search(queries, k=10)  # sessions made outside the measurement
            tracemalloc.start()
            try:
                hits = searcher.search(queries, k=10)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            assert_same(hits, reference(values, queries, 10), gallery.ids)
            assert [h.id for h in hits[0]] == [f"g{i}" for i in range(300, 310)]
    assert peaks[1] < 1.2 * peaks[0], [p / 2**20 for p in peaks]
    # Each worker settles what it handed out while the others scan: one chunk's temporaries
    # a worker (12.7-12.8 MiB measured with one thread, 25.3-25.5 MiB with two).
    assert peaks[1] < threads * 16 * 2**20, [p / 2**20 for p in peaks]


@pytest.mark.parametrize("direct", [True, False])
def test_the_nearest_so_far_take_ties_to_the_lower_slot_whichever_run_ends_first(
    tmp_path: Path, direct: bool
) -> None:
    """A one-query scan merges each run's re-ranked candidates as the run ends, in whatever
    order the threads finish: copies of one template in two runs still come back lower slot
    first, and the k-th nearest gives the score the later runs prune by (straight float64
    re-rank, or with `direct` off the chunked one)."""
    values, _ = small_integers(3, 12, 1)
    values[[1, 5, 9]] = values[0] + 3  # three copies, away from the others (|v| <= 2)
    query = (values[1] + 0.25).astype(np.float32)[None]
    with pytest.MonkeyPatch.context() as patch, _gallery(tmp_path / "g", values) as gallery:
        if not direct:
            patch.setattr("biometrics.matcher.rerank.DIRECT_MEMBERS", 0)
            patch.setattr("biometrics.matcher.rerank.DIRECT_FLOOR", 0)
        nearest = Nearest(Reranker(gallery), query, 2, -np.inf, np.zeros(2))
        lock = threading.Lock()
        nearest.add(np.array([5, 6, 9], np.int64), lock)  # the later run, merged first
        assert [slot for _, slot in nearest.best] == [5, 9]
        nearest.add(np.array([0, 1, 2], np.int64), lock)
        expected = reference(values, query, 2)[0]
        assert [slot for _, slot in nearest.best] == [i for i, _ in expected] == [1, 5]
        distance = expected[1][1]
        score = 0.5 * (float(np.square(query.astype(np.float64)).sum()) - distance**2)
        assert score - 1e-5 * abs(score) < nearest.lowest(0)[0, 0] <= score  # float32, down


def test_float16_gallery_ranks_its_stored_values_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(0, 0.12, (3000, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (9, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, dtype=GalleryDtype.FLOAT16, block=512) as gallery:
        hits = Searcher(gallery).search(queries, k=10)
        stored = values.astype(np.float16).astype(np.float32)
        assert_same(hits, reference(stored, queries, 10), gallery.ids)


def test_more_queries_than_one_run_holds(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(0, 0.12, (200, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (1030, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, block=64) as gallery:
        hits = Searcher(gallery).search(queries, k=3)
        assert_same(hits, reference(values, queries, 3), gallery.ids)
        assert Searcher(gallery).search(np.zeros((0, DIM), np.float32)) == []


def test_watchlist_mode_returns_only_hits_within_the_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(0, 0.12, (100, DIM)).astype(np.float32)
    near = values[40] + rng.normal(0, 0.01, DIM).astype(np.float32)
    far = np.full(DIM, 5.0, np.float32)
    with _gallery(tmp_path / "g", values, block=32) as gallery:
        hits = Searcher(gallery).search(np.stack([near, far]), k=5, threshold=0.6)
        full = Searcher(gallery).search(np.stack([near]), k=5)[0]
    assert hits[1] == []
    assert hits[0] == [h for h in full if h.distance <= 0.6]
    assert hits[0][0].id == "g40"
    assert all(h.distance <= 0.6 for h in hits[0])


def test_threshold_equal_to_a_distance_includes_it(tmp_path: Path) -> None:
    values = np.zeros((2, DIM), np.float32)
    values[1, 0] = 0.5
    with _gallery(tmp_path / "g", values) as gallery:
        hits = Searcher(gallery).search(np.zeros((1, DIM), np.float32), k=2, threshold=0.5)
    assert hits == [[Hit("g0", 0.0), Hit("g1", 0.5)]]


def test_searcher_follows_gallery_changes(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    values = rng.normal(0, 0.12, (10, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, block=4) as gallery:
        searcher = Searcher(gallery)
        probe = rng.normal(0, 0.12, (1, DIM)).astype(np.float32)
        assert searcher.search(probe, k=1)[0][0].id != "new"
        gallery.add(["new"], probe)  # lands in the partly filled last block
        assert searcher.search(probe, k=1) == [[Hit("new", 0.0)]]
        gallery.replace(["new"], values[:1] + 1)
        assert searcher.search(probe, k=1)[0][0].id != "new"
        # A full block's template: one-query searches scan full blocks as one stack with
        # copied scale and norm rows, which must follow the change.
        gallery.replace(["g5"], 3 * probe)
        assert searcher.search(3 * probe, k=1) == [[Hit("g5", 0.0)]]
        gallery.remove(["g0", "g1"])
        assert "g0" not in {h.id for h in searcher.search(values[:1], k=11)[0]}
        current = gallery.get(gallery.ids)
        assert_same(
            searcher.search(values[:3], k=6), reference(current, values[:3], 6), gallery.ids
        )


# ---- errors -------------------------------------------------------------------------------


def test_empty_gallery_is_a_typed_error(tmp_path: Path) -> None:
    gallery = Gallery.create(tmp_path / "g")
    with pytest.raises(EmptyGallery, match="holds no template") as caught:
        Searcher(gallery).search(np.zeros((1, DIM), np.float32))
    assert caught.value.path == tmp_path / "g"
    assert caught.value.code == "empty_gallery"


def test_bad_queries_and_arguments_are_typed(tmp_path: Path) -> None:
    values = np.zeros((3, DIM), np.float32)
    with _gallery(tmp_path / "g", values) as gallery:
        searcher = Searcher(gallery)
        with pytest.raises(
            DimensionMismatch, match=r"queries: expected shape \(n, 128\), got \(1, 129\)"
        ) as caught:
            searcher.search(np.zeros((1, 129), np.float32))
        assert caught.value.shape == (1, 129)
        bad = np.zeros((4, DIM), np.float32)
        bad[3, 5] = np.nan
        with pytest.raises(NonFiniteValue, match="queries: row 3") as nan:
            searcher.search(bad)
        assert np.isnan(nan.value.value)
        for k in (0, -1, 2.5, True):
            with pytest.raises(InvalidArgument, match="k=") as arg:
                searcher.search(values[:1], k=k)  # type: ignore[arg-type]
            assert arg.value.value == k
        for threshold in (-0.1, float("nan"), float("inf"), "0.6"):
            with pytest.raises(InvalidArgument, match="threshold=") as bad_threshold:
                searcher.search(values[:1], threshold=threshold)  # type: ignore[arg-type]
            assert bad_threshold.value.value is threshold


@pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="CUDA is present"
)
def test_cuda_provider_absent_is_a_typed_error(tmp_path: Path) -> None:
    gallery = _gallery(tmp_path / "g", np.zeros((1, DIM), np.float32))
    with pytest.raises(ProviderUnavailable, match="CUDAExecutionProvider is unavailable") as caught:
        Searcher(gallery, provider=Provider.CUDA)
    assert caught.value.requested is Provider.CUDA
    assert caught.value.code == "provider_unavailable"


@pytest.mark.skipif(
    "CUDAExecutionProvider" not in onnxruntime.get_available_providers(), reason="no CUDA provider"
)
def test_cuda_search_equals_cpu_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    values = rng.normal(0, 0.12, (5000, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (33, DIM)).astype(np.float32)
    for dtype in GalleryDtype:
        with _gallery(tmp_path / dtype.value, values, dtype=dtype, block=1024) as gallery:
            cuda = Searcher(gallery, provider=Provider.CUDA)
            assert cuda.search(queries, k=10) == Searcher(gallery).search(queries, k=10)
            gallery.add(["x"], queries[:1])
            assert cuda.search(queries[:1], k=1) == [[Hit("x", 0.0)]]


@pytest.mark.parametrize("dtype", list(GalleryDtype))
def test_resident_iobinding_path_on_the_cpu_device(tmp_path: Path, dtype: GalleryDtype) -> None:
    # The CUDA path (blocks kept as OrtValues, bound with IOBinding, refreshed by block version)
    # run against the CPU device: the same code as on a GPU but for the device name.
    rng = np.random.default_rng(11)
    values = rng.normal(0, 0.12, (45, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (7, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, dtype=dtype, block=4) as gallery:
        host = Searcher(gallery)
        resident = Searcher(gallery)
        resident._device = ("cpu", 0)
        assert resident.search(queries, k=6) == host.search(queries, k=6)
        # One query: the host re-ranks each run's candidates as the run ends, the resident
        # path the kept members after the scan.
        for query in queries:
            assert resident.search(query[None], k=6) == host.search(query[None], k=6)
        gallery.add(["x"], queries[:1])
        gallery.replace(["g3"], queries[1:2])
        gallery.remove(["g0", "g44"])
        assert resident.search(queries, k=6) == host.search(queries, k=6)
        nearest = resident.search(queries[:2], k=1)
        assert [[h.id for h in row] for row in nearest] == [["x"], ["g3"]]
        gallery.remove([i for i in gallery.ids if i not in {"x", "g3"}])
        assert resident.search(queries[:2], k=5) == host.search(queries[:2], k=5)
        assert all(i == 0 for i in resident._copies)


@given(
    st.one_of(
        st.floats(-1e30, 1e30, allow_nan=False), st.sampled_from([-np.inf, np.inf, 0.0, -0.0])
    )
)
def test_float32_rounding_of_bounds_is_outward(value: float) -> None:
    # The graph's slack and lowest inputs are float32: rounded the wrong way by even one step,
    # a run could leave out a group that holds a true top-k template. (Scores and bounds stay
    # within ~1e10: template and query elements are at most 1e4.)
    from biometrics.matcher.rerank import float32_down, float32_up

    values = np.array([value])
    up, down = float32_up(values), float32_down(values)
    assert up.dtype == down.dtype == np.float32
    assert float(up[0]) >= value >= float(down[0])
    if np.isfinite(value):
        # Within two float32 steps of the value.
        assert float(np.nextafter(np.nextafter(up, -np.inf), -np.inf)[0]) <= value
        assert float(np.nextafter(np.nextafter(down, np.inf), np.inf)[0]) >= value


def test_worker_threads_stop_on_close_and_when_a_searcher_is_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    values = rng.normal(0, 0.12, (3000, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (5, DIM)).astype(np.float32)
    expected = reference(values, queries, 3)
    with _gallery(tmp_path / "g", values, block=512) as gallery:
        for drop in (False, True):
            before = set(threading.enumerate())
            searcher = Searcher(gallery, threads=3)
            assert_same(searcher.search(queries, k=3), expected, gallery.ids)
            assert_same(searcher.search(queries[:1], k=3), expected[:1], gallery.ids)
            workers = set(threading.enumerate()) - before
            assert len(workers) == 2
            assert all(t.daemon for t in workers)
            if drop:
                del searcher
                gc.collect()
            else:
                searcher.close()
            for thread in workers:
                thread.join(timeout=10)
            assert not any(t.is_alive() for t in workers)


class _Fixed(Balance):
    """A balance that always chooses the share it is given (by index)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def choose(self, shares: Sequence[tuple[int, int]], even: int) -> int:
        return self.index


@pytest.mark.parametrize("threads", [2, 3])
def test_one_query_searches_are_exact_whichever_share_the_calling_thread_takes(
    tmp_path: Path, threads: int
) -> None:
    """7 full blocks of 64 and 13 templates more, one run a thread: the calling thread's run
    holds 1 to 8 - threads full blocks and the result is the reference's every time."""
    rng = np.random.default_rng(31)
    values = rng.normal(0, 0.12, (7 * 64 + 13, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (6, DIM)).astype(np.float32)
    queries[3] = values[200]  # a template inside every split's first or second run
    expected = reference(values, queries, 7)
    with _gallery(tmp_path / "g", values, block=64) as gallery:
        searcher = Searcher(gallery, threads=threads)
        assert len(searcher._current_plan().runs) == threads
        for first in range(1, 9 - threads):
            searcher._balance = _Fixed(first - 1)
            runs = searcher._one_query_plan().runs
            assert len(runs[0].blocks) == first
            assert sum(run.templates for run in runs) == len(values)
            hits = [searcher.search(q[None], k=7)[0] for q in queries]
            assert_same(hits, expected, gallery.ids)
        searcher.close()


def test_one_query_scans_teach_the_balance_and_batches_do_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(32)
    values = rng.normal(0, 0.12, (7 * 64 + 13, DIM)).astype(np.float32)
    queries = rng.normal(0, 0.12, (4, DIM)).astype(np.float32)
    with _gallery(tmp_path / "g", values, block=64) as gallery:
        searcher = Searcher(gallery, threads=2)
        searcher.search(queries, k=3)
        assert searcher._balance.scans == 0
        searcher.search(queries[:1], k=3)
        searcher.search(queries[1:2], k=3)
        assert searcher._balance.scans == 2
        searcher.close()
    with _gallery(tmp_path / "one-run", values[:100], block=64) as gallery:
        searcher = Searcher(gallery, threads=2)  # one full block: one run, no helper
        searcher.search(queries[:1], k=3)
        assert searcher._balance.scans == 0
        searcher.close()


@given(
    full=st.integers(1, 300),
    count=st.integers(1, 9),
    first=st.one_of(st.none(), st.integers(-3, 310)),
)
def test_runs_cut_every_block_once_and_leave_each_run_one(
    full: int, count: int, first: int | None
) -> None:
    count = min(count, full)
    cuts = _cuts(full, count, first)
    assert cuts[0] == 0
    assert cuts[-1] == full
    assert len(cuts) == count + 1
    sizes = np.diff(cuts)
    assert sizes.min() >= 1
    if first is None or count == 1:
        assert sizes.max() - sizes.min() <= 1
    else:
        assert sizes[0] == min(max(first, 1), full - count + 1)
        assert sizes[1:].max() - sizes[1:].min() <= 1
