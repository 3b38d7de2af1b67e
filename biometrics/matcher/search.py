"""1:N search: queries (B, dim) against a `Gallery`, exact top-k by Euclidean distance.

Each run of the search graph (`graphs.search_graph`) takes a few gallery blocks: one MatMul and
the |g|^2/2 subtraction per block, then the best groups of GROUP consecutive templates by their
best score, so a block is read once and the only temporary is its (B, C) scores. The winning
groups of every run (k + RERANK_MARGIN of them) are merged; their members are scored again in
float32 and the best k + RERANK_MARGIN re-ranked in float64 on the stored templates: the
returned distances are true Euclidean distances (not the cancellation-prone
|q|^2+|g|^2-2q.g), the order is exact unless float32 rounding moves more than RERANK_MARGIN
templates across the k-th place, and ties (equal float64 distances) go to the lower gallery
slot, as a stable sort of the float64 distances would.

On the CUDA provider every block is copied to the device once (an OrtValue per block, refreshed
only when the gallery changes that block) and bound with IOBinding; a search moves only the
queries to the device and the (B, k) winners back.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.embedding import Provider, ProviderUnavailable
from biometrics.matcher.errors import EmptyGallery, InvalidArgument
from biometrics.matcher.gallery import Block, Gallery, GalleryDtype
from biometrics.matcher.graphs import search_graph
from biometrics.matcher.vectors import as_vectors, check_threshold

# Extra groups kept per run and overall, and extra members re-ranked in float64. float32 scores
# of 128-d descriptors err by ~1e-6; neighbours closer than that are rare, 8 in a row rarer.
RERANK_MARGIN = 8
# Templates per group (gcd(block size, 16) for other block sizes): 16 keeps the ReduceMax pass
# cheap and the re-rank at (k + 8) * 16 templates a query.
GROUP = 16
# Queries per graph run: bounds the (B, C) score temporary.
MAX_RUN_QUERIES = 1024
# Queries re-ranked together: bounds the gathered members, (k + 8) * 16 * dim floats a query.
RERANK_QUERIES = 128
# Templates per ONNX run (in whole gallery blocks, at least one): TopK costs ~3 us a query row
# whatever its length, so at B = 64 runs of 16,384 templates spent ~8% of the search in TopK;
# 65,536 spend 2%.
RUN_TEMPLATES = 65536


@dataclass(frozen=True)
class Hit:
    """One gallery template near a query: its id and the Euclidean distance (dlib units)."""

    id: str
    distance: float


class Searcher:
    """Exact k-nearest-neighbour search over a gallery with ONNX Runtime.

    The searcher follows the gallery: templates added, removed or replaced after it was made
    are seen by the next search. `threads` is the number of runs of blocks searched at once
    (None: all cores). Raises ProviderUnavailable when `provider` is not in this onnxruntime build.
    Concurrent searches are serialised by the gallery's lock; `close()` (or `with`) stops the
    worker threads.
    """

    def __init__(
        self,
        gallery: Gallery,
        provider: Provider = Provider.CPU,
        *,
        threads: int | None = None,
        device_id: int = 0,
    ) -> None:
        import onnxruntime as ort

        available = list(ort.get_available_providers())
        if provider.value not in available:
            raise ProviderUnavailable(provider, available)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidArgument("threads", threads, "must be an int >= 1 or None")
        self.gallery = gallery
        self.provider = provider
        self.threads = threads or os.cpu_count() or 1
        self._ort = ort
        options = ort.SessionOptions()
        # CPU: each run of blocks is single-threaded and `threads` workers pull runs from a
        # shared counter. On a shared 2-core host ONNX Runtime's own pool (spinning workers
        # meeting at a barrier per op) ran 1.5-5x slower whenever another process held a core;
        # workers that each own whole runs just finish later. The sessions are shared: run()
        # is thread-safe and releases the GIL.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        providers: list[Any] = [provider.value]
        if provider is Provider.CUDA:
            providers = [(provider.value, {"device_id": device_id}), Provider.CPU.value]
        self.group = math.gcd(gallery.block_size, GROUP)
        self._options = options
        self._providers = providers
        # One session per number of blocks in a run, made when first needed.
        self._sessions: dict[int, Any] = {}
        # Where gallery blocks live as OrtValues bound through IOBinding: the CUDA device, or
        # None to feed the mapped host arrays directly (CPU).
        self._device: tuple[str, int] | None = None
        if provider is Provider.CUDA:
            self._device = ("cuda", device_id)
        # Per block index: (version, arrays or device values) for blocks we keep a copy of.
        self._copies: dict[int, tuple[int, Any, Any, int]] = {}
        # (gallery version, runs, each run's block feeds): remade only when the gallery changes.
        self._plan: tuple[int, list[list[Block]], list[dict[str, Any]]] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the worker threads and drop device copies (the gallery stays open)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._copies = {}
        self._plan = None

    def __enter__(self) -> Searcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def search(self, queries: Any, k: int = 10, threshold: float | None = None) -> list[list[Hit]]:
        """The k nearest templates of each query, nearest first.

        `queries` (B, dim) float32 raw descriptors; `k` >= 1 (fewer hits when the gallery is
        smaller); `threshold` a Euclidean distance: when given, only hits at distance <=
        threshold are returned (watchlist mode; a query may then get no hit). Returns B lists.
        Raises DimensionMismatch, NonFiniteValue, ValueOutOfRange, InvalidArgument,
        EmptyGallery.
        """
        q = as_vectors(queries, self.gallery.dim, "queries")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidArgument("k", k, "must be an int >= 1")
        if threshold is not None:
            threshold = check_threshold(threshold)
        with self.gallery._lock:
            if len(self.gallery) == 0:
                raise EmptyGallery(self.gallery.path)
            hits: list[list[Hit]] = []
            for start in range(0, len(q), MAX_RUN_QUERIES):
                part = q[start : start + MAX_RUN_QUERIES]
                scores, slots = self._candidates(part, int(k) + RERANK_MARGIN)
                for row in range(0, len(part), RERANK_QUERIES):
                    rows = slice(row, row + RERANK_QUERIES)
                    hits += self._rerank(part[rows], scores[rows], slots[rows], int(k), threshold)
            return hits

    def _session(self, blocks: int) -> Any:
        session = self._sessions.get(blocks)
        if session is None:
            graph = search_graph(
                self.gallery.dim,
                float16=self.gallery.dtype is GalleryDtype.FLOAT16,
                blocks=blocks,
                group=self.group,
            )
            session = self._ort.InferenceSession(
                graph.SerializeToString(), self._options, providers=self._providers
            )
            self._sessions[blocks] = session
        return session

    def _runs(self, blocks: list[Block]) -> list[list[Block]]:
        """Consecutive full blocks in runs of about RUN_TEMPLATES, as even as possible and
        a multiple of `threads` in number (so the workers finish together); the partly filled
        last block on its own."""
        full = [b for b in blocks if b.columns.shape[1] == self.gallery.block_size]
        count = -(-len(full) // max(1, RUN_TEMPLATES // self.gallery.block_size))
        count = min(len(full), -(-count // self.threads) * self.threads)
        bounds = [len(full) * i // count for i in range(count + 1)] if full else [0]
        runs = [full[a:b] for a, b in itertools.pairwise(bounds)]
        return runs + [[b] for b in blocks[len(full) :]]

    def _candidates(
        self, q: npt.NDArray[np.float32], want: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """(B, m) float32 group maxima and (B, m) int64 first slots: each run's `want` best
        groups."""
        runs, block_feeds = self._runs_and_feeds()
        if self._device is not None:
            outputs = self._run_resident(q, runs, want, self._device)
        else:
            outputs = self._run_cpu(q, runs, block_feeds, want)
        # Blocks of a run are consecutive, so group j of a run starts at slot first + j*group.
        scores = np.concatenate([out[0] for out in outputs], axis=1)
        firsts = np.concatenate(
            [
                out[1] * self.group + run[0].first_slot
                for run, out in zip(runs, outputs, strict=True)
            ],
            axis=1,
        )
        return scores, firsts

    def _runs_and_feeds(self) -> tuple[list[list[Block]], list[dict[str, Any]]]:
        """The gallery's runs of blocks and, per run, its blocks' inputs to the graph (host
        arrays; the CUDA path binds its own), made again only after the gallery changed."""
        version = self.gallery.version
        if self._plan is None or self._plan[0] != version:
            runs = self._runs(self.gallery.blocks())
            for size in {len(run) for run in runs}:
                self._session(size)  # made here, not by two workers at once
            feeds: list[dict[str, Any]] = []
            if self._device is None:
                for run in runs:
                    feed: dict[str, Any] = {}
                    for i, block in enumerate(run):
                        feed[f"block{i}"], feed[f"half_sq_norms{i}"] = self._host_arrays(block)
                    feeds.append(feed)
            self._plan = (version, runs, feeds)
        return self._plan[1], self._plan[2]

    def _run_k(self, run: list[Block], want: int) -> npt.NDArray[np.int64]:
        groups = sum(-(-b.columns.shape[1] // self.group) for b in run)
        return np.array([min(want, groups)], np.int64)

    def _run_cpu(
        self,
        q: npt.NDArray[np.float32],
        runs: list[list[Block]],
        block_feeds: list[dict[str, Any]],
        want: int,
    ) -> list[list[Any]]:
        feeds = [
            {"queries": q, "k": self._run_k(run, want), **blocks}
            for run, blocks in zip(runs, block_feeds, strict=True)
        ]
        results: list[list[Any]] = [[] for _ in feeds]
        pending = iter(range(len(feeds)))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                session = self._sessions[len(runs[index])]
                results[index] = session.run(None, feeds[index])

        workers = min(self.threads, len(feeds))
        if workers <= 1:
            work()
            return results
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="egate-search")
        for future in [self._pool.submit(work) for _ in range(workers)]:
            future.result()
        return results

    def _host_arrays(self, block: Block) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """A full block's columns are a contiguous view of the mapped file, fed as they are; the
        last, partly filled block is a strided view, copied (and padded) once per gallery
        change."""
        if block.columns.shape[1] == self.gallery.block_size and block.columns.flags.c_contiguous:
            return block.columns, block.half_sq_norms
        cached = self._copies.get(block.index)
        if cached is None or cached[0] != block.version or cached[3] != block.columns.shape[1]:
            cached = (block.version, *self._padded(block), block.columns.shape[1])
            self._copies = {block.index: cached}
        return cached[1], cached[2]

    def _padded(self, block: Block) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """The block's columns and norms, contiguous, widened to a whole number of groups by
        zero columns whose +inf norm makes their score -inf."""
        width = block.columns.shape[1]
        padded = -(-width // self.group) * self.group
        columns = np.zeros((block.columns.shape[0], padded), block.columns.dtype)
        columns[:, :width] = block.columns
        norms = np.full(padded, np.inf, np.float32)
        norms[:width] = block.half_sq_norms
        return columns, norms

    def _run_resident(
        self,
        q: npt.NDArray[np.float32],
        runs: list[list[Block]],
        want: int,
        device: tuple[str, int],
    ) -> list[list[Any]]:
        ort = self._ort
        q_device = ort.OrtValue.ortvalue_from_numpy(q, *device)
        last = runs[-1][-1].index
        for stale in [i for i in self._copies if i > last]:
            del self._copies[stale]
        results = []
        for run in runs:
            session = self._sessions[len(run)]
            binding = session.io_binding()
            binding.bind_ortvalue_input("queries", q_device)
            binding.bind_cpu_input("k", self._run_k(run, want))
            for i, block in enumerate(run):
                columns, norms = self._device_block(block, device)
                binding.bind_ortvalue_input(f"block{i}", columns)
                binding.bind_ortvalue_input(f"half_sq_norms{i}", norms)
            binding.bind_output("scores", "cpu")
            binding.bind_output("groups", "cpu")
            session.run_with_iobinding(binding)
            results.append(binding.copy_outputs_to_cpu())
        return results

    def _device_block(self, block: Block, device: tuple[str, int]) -> tuple[Any, Any]:
        cached = self._copies.get(block.index)
        width = block.columns.shape[1]
        if cached is None or cached[0] != block.version or cached[3] != width:
            ort = self._ort
            columns, norms = self._padded(block)
            cached = (
                block.version,
                ort.OrtValue.ortvalue_from_numpy(columns, *device),
                ort.OrtValue.ortvalue_from_numpy(norms, *device),
                width,
            )
            self._copies[block.index] = cached
        return cached[1], cached[2]

    def _rerank(
        self,
        q: npt.NDArray[np.float32],
        scores: npt.NDArray[np.float32],
        firsts: npt.NDArray[np.int64],
        k: int,
        threshold: float | None,
    ) -> list[list[Hit]]:
        """Per query: float32 scores of every member of its best groups, true float64
        distances of the best k + RERANK_MARGIN of those (and any tied with the last), then
        the k nearest, ties to the lower slot (a stable sort of the distances)."""
        want = k + RERANK_MARGIN
        rows, starts = self._best_groups(scores, firsts, want)
        templates, norms = self.gallery.runs_at(starts, self.group)  # (m, dim, g), (m, g)
        member_scores = np.matmul(q[rows][:, None, :], templates)[:, 0, :] - norms
        slots = starts[:, None] + np.arange(self.group)
        member_scores[slots >= len(self.gallery)] = -np.inf  # the last block's padding
        # One row of candidate scores per query (queries may hold more groups after ties).
        counts = np.bincount(rows, minlength=len(q))
        place = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        grid = np.full((len(q), counts.max(), self.group), -np.inf, np.float32)
        grid[rows, place] = member_scores
        flat = grid.reshape(len(q), -1)
        take = min(want, flat.shape[1])
        floor = -np.partition(-flat, take - 1, axis=1)[:, take - 1]
        owners, positions = np.nonzero((flat >= floor[:, None]) & np.isfinite(flat))
        where = np.full((len(q), counts.max()), -1)
        where[rows, place] = np.arange(len(rows))
        members, offsets = where[owners, positions // self.group], positions % self.group
        q64 = q.astype(np.float64)
        diff = templates[members, :, offsets].astype(np.float64) - q64[owners]
        distances = np.sqrt(np.square(diff).sum(axis=1))
        chosen = slots[members, offsets]
        order = np.lexsort((chosen, distances, owners))
        bounds = np.searchsorted(owners[order], np.arange(len(q) + 1))
        hits = []
        for row in range(len(q)):
            best = order[bounds[row] : min(bounds[row] + k, bounds[row + 1])]
            if threshold is not None:
                best = best[distances[best] <= threshold]
            ids = self.gallery.ids_at(chosen[best])
            hits.append(
                [Hit(i, float(d)) for i, d in zip(ids, distances[best].tolist(), strict=True)]
            )
        return hits

    @staticmethod
    def _best_groups(
        scores: npt.NDArray[np.float32], firsts: npt.NDArray[np.int64], want: int
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
        """(query row, first slot) of each query's `want` best groups and any tied with the
        last, so that the slot tie-break stays exact; rows in ascending order."""
        cut = max(scores.shape[1] - want, 0)
        floor = np.partition(scores, cut, axis=1)[:, cut]
        rows, columns = np.nonzero(scores >= floor[:, None])
        return rows, firsts[rows, columns]
