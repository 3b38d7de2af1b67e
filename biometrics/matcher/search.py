"""1:N search: queries (B, dim) against a `Gallery`, exact top-k by Euclidean distance.

A search has two stages. The scan runs the search graph over runs of gallery blocks (a run is
~65,536 templates, one ONNX run on one worker thread) and returns, per run and query, the best
groups of GROUP consecutive templates by their best approximate score. On the CPU the scan
reads the gallery's 8-bit codes (`codes`, `graphs.code_search_graph`), a quarter of a float32
gallery's bytes; on CUDA it multiplies the float blocks resident on the device
(`graphs.search_graph`). Either way every approximate score comes with a bound on its error
(the codes' quantisation bound, or float32 rounding), per run and query.

The selection then makes the result exact. The graph returns, beside each returned group's
best score, the approximate scores of all its members, so every member has an interval that
holds its true score. T, the k-th best lower bound among them, is a score that at least k
templates reach, so every template of the true top k (and every template tied with the k-th)
is a member whose upper bound reaches T, in a group whose upper bound reaches T. A run that
returned only part of its groups and whose last one still reaches T is scanned again for more.
Only the members whose upper bound reaches T (a few dozen a query) are read from the stored
templates and re-ranked with true float64 Euclidean distances (not the cancellation-prone
|q|^2+|g|^2-2q.g), ties (equal float64 distances) to the lower gallery slot, as a stable sort
of the distances would. So the top k is the float64 reference's, whatever the data.

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
from biometrics.matcher.codes import (
    CODE_NORM,
    NEG_HALF_SQ_NORM,
    RESIDUAL,
    SCALE,
    ZERO_SUM,
    QueryCodes,
    encode_queries,
    rounding_bound,
)
from biometrics.matcher.errors import EmptyGallery, InvalidArgument
from biometrics.matcher.gallery import Block, Gallery, GalleryDtype
from biometrics.matcher.graphs import code_search_graph, search_graph
from biometrics.matcher.vectors import as_vectors, check_threshold

# Groups each run returns beyond k on the first scan. A 1M-template search of random unit
# vectors keeps ~2 groups a run within the codes' bound of the k-th, so runs rarely need a
# second scan; one whose last group still reaches the k-th bound is scanned again for twice as
# many.
RUN_MARGIN = 8
# Templates per group (gcd(block size, 16) for other block sizes): 16 keeps the ReduceMax pass
# cheap and the re-rank at 16 templates a kept group.
GROUP = 16
# Queries per graph run: bounds the (B, C) score temporary.
MAX_RUN_QUERIES = 1024
# Queries re-ranked together: bounds the gathered members.
RERANK_QUERIES = 128
# Kept templates re-ranked in float64 straight away: up to DIRECT_MEMBERS a query per k, or
# DIRECT_FLOOR in all. Beyond that a float32 prefilter pays for itself: at B = 64 and 100k
# templates a query keeps ~60, of which the prefilter passes ~10; a one-query search keeps
# ~50, where the prefilter cost more than float64 on all of them.
DIRECT_MEMBERS = 2
DIRECT_FLOOR = 256
# Templates per ONNX run (in whole gallery blocks, at least one): TopK costs ~3 us a query row
# whatever its length, so at B = 64 runs of 16,384 templates spent ~8% of the search in TopK;
# 65,536 spend 2%.
RUN_TEMPLATES = 65536


@dataclass(frozen=True)
class Hit:
    """One gallery template near a query: its id and the Euclidean distance (dlib units)."""

    id: str
    distance: float


@dataclass(frozen=True)
class _Run:
    """Consecutive blocks scanned by one ONNX run: its number of templates, its blocks' inputs
    for the codes graph (host arrays; the CUDA path binds its own), and the largest template
    factors of the error bound: s|c|, |g - s*c| and |g|^2/2."""

    blocks: list[Block]
    templates: int
    feed: dict[str, Any]
    code_norm: float
    residual: float
    half_sq_norm: float


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
            # TF32 would round the float32 products to 10 bits, past the error bound.
            cuda = {"device_id": device_id, "use_tf32": 0}
            providers = [(provider.value, cuda), Provider.CPU.value]
        self.group = math.gcd(gallery.block_size, GROUP)
        self._options = options
        self._providers = providers
        # One session per (graph kind, number of blocks in a run), made when first needed.
        self._sessions: dict[tuple[str, int], Any] = {}
        # Where gallery blocks live as OrtValues bound through IOBinding, scanned in float: the
        # CUDA device, or None to scan the mapped host codes (CPU).
        self._device: tuple[str, int] | None = None
        if provider is Provider.CUDA:
            self._device = ("cuda", device_id)
        # Per block index: (version, arrays or device values) for blocks we keep a copy of.
        self._copies: dict[int, tuple[int, Any, int]] = {}
        # Per block index: (version, largest s|c|, |g - s*c|, |g|^2/2).
        self._maxima: dict[int, tuple[int, float, float, float]] = {}
        # Per graph kind: groups each run returns on a search's first scan (see _search).
        self._needed: dict[str, int] = {}
        # (gallery version, runs): remade only when the gallery changes.
        self._plan: tuple[int, list[_Run]] | None = None
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
                hits += self._search(q[start : start + MAX_RUN_QUERIES], int(k), threshold)
            return hits

    def _search(
        self, q: npt.NDArray[np.float32], k: int, threshold: float | None
    ) -> list[list[Hit]]:
        runs = self._current_runs()
        kind = self._kind(len(q))
        group = self._group(kind)
        groups = [-(-run.templates // group) for run in runs]
        coded = encode_queries(q) if kind != "float" else None
        bounds = self._error_bounds(q, coded, runs)
        first = max(k + RUN_MARGIN, self._needed.get(kind, 0))
        want = [min(first, count) for count in groups]
        outputs = self._scan(q, coded, kind, runs, want, range(len(runs)))
        # Scores a hit must reach: (|q|^2 - threshold^2) / 2, less float64 rounding.
        floor = np.full(len(q), -np.inf)
        if threshold is not None:
            sq = np.square(q.astype(np.float64)).sum(axis=1)
            floor = 0.5 * (sq - threshold**2) - 1e-9 * (sq + threshold**2 + 1.0)
        while True:
            run_of = np.repeat(np.arange(len(runs)), [out[0].shape[1] for out in outputs])
            errors = bounds[:, run_of]
            maxima = np.concatenate([out[0] for out in outputs], axis=1).astype(np.float64)
            members = np.concatenate([_members(out) for out in outputs], axis=1)
            reach = np.maximum(_member_reach(maxima, members, errors, k), floor)
            again = [
                r
                for r in range(len(runs))
                if want[r] < groups[r]
                and bool((outputs[r][0][:, -1] + bounds[:, r] >= reach).any())
            ]
            if not again:
                break
            for r in again:
                want[r] = min(2 * want[r], groups[r])
            more = self._scan(q, coded, kind, runs, want, again)
            for r, out in zip(again, more, strict=True):
                outputs[r] = out
        # Start the next search of this kind with half as many groups a run again as this one
        # needed in its fullest run, or 99% of the last start, whichever is more: the need
        # varies from query to query, and a second scan runs on one core (with 90% and a
        # quarter more, one-query searches of 100k templates scanned twice ~1 time in 5), while
        # one search with a large k is forgotten within a few hundred.
        reached = maxima + errors >= reach[:, None]
        starts = np.cumsum([0, *want[:-1]])
        needed = int(np.add.reduceat(reached, starts, axis=1, dtype=np.int64).max())
        self._needed[kind] = max(int(needed * 1.5) + 2, int(0.99 * self._needed.get(kind, 0)))
        # The templates that may belong in the top k: the members, of the groups that reach T,
        # whose own upper bound reaches T.
        rows, columns = np.nonzero(reached)
        firsts = np.concatenate(
            [
                out[1] * group + run.blocks[0].first_slot
                for run, out in zip(runs, outputs, strict=True)
            ],
            axis=1,
        )[rows, columns]
        upper = members[rows, columns] + errors[rows, columns][:, None]
        within, offsets = np.nonzero(upper >= reach[rows][:, None])
        rows, slots = rows[within], firsts[within] + offsets
        # Not the last block's padding (kept, at -inf, when fewer than k templates exist).
        real = slots < len(self.gallery)
        rows, slots = rows[real], slots[real]
        hits: list[list[Hit]] = []
        for row in range(0, len(q), RERANK_QUERIES):
            kept = (rows >= row) & (rows < row + RERANK_QUERIES)
            part = q[row : row + RERANK_QUERIES]
            hits += self._rerank(part, rows[kept] - row, slots[kept], k, threshold)
        return hits

    def _kind(self, queries: int) -> str:
        """The scan's graph: float templates on a device, else codes for one query or many."""
        if self._device is not None:
            return "float"
        return "single" if queries == 1 else "batch"

    def _group(self, kind: str) -> int:
        """Templates a scan's selection ranks together: one query ranks templates (TopK over a
        run costs little beside its scan), batches rank groups (see graphs.search_graph)."""
        return 1 if kind == "single" else self.group

    def _error_bounds(
        self, q: npt.NDArray[np.float32], coded: QueryCodes | None, runs: list[_Run]
    ) -> npt.NDArray[np.float64]:
        """(B, runs) bound on |approximate - true score| of every template of each run."""
        norms = np.sqrt(np.square(q.astype(np.float64)).sum(axis=1))[:, None]
        half = np.array([run.half_sq_norm for run in runs])
        bounds: npt.NDArray[np.float64] = rounding_bound(self.gallery.dim, norms, half)
        if coded is not None:
            code_norm = np.array([run.code_norm for run in runs])
            residual = np.array([run.residual for run in runs])
            bounds += coded.errors[:, None] * code_norm + norms * residual
        return bounds

    def _session(self, kind: str, blocks: int) -> Any:
        session = self._sessions.get((kind, blocks))
        if session is None:
            if kind == "float":
                graph = search_graph(
                    self.gallery.dim,
                    float16=self.gallery.dtype is GalleryDtype.FLOAT16,
                    blocks=blocks,
                    group=self.group,
                )
            else:
                graph = code_search_graph(
                    self.gallery.dim,
                    blocks=blocks,
                    group=self._group(kind),
                    single=kind == "single",
                )
            session = self._ort.InferenceSession(
                graph.SerializeToString(), self._options, providers=self._providers
            )
            self._sessions[(kind, blocks)] = session
        return session

    def _split(self, blocks: list[Block]) -> list[list[Block]]:
        """Consecutive blocks in runs of about RUN_TEMPLATES, as even as possible and a
        multiple of `threads` in number (so the workers finish together). The partly filled
        last block joins the last run: on its own it was one more ONNX run, ~50 us at the end
        of a 100k one-query search that the other worker sat out."""
        full = [b for b in blocks if b.rows.shape[0] == self.gallery.block_size]
        count = -(-len(full) // max(1, RUN_TEMPLATES // self.gallery.block_size))
        count = min(len(full), -(-count // self.threads) * self.threads)
        bounds = [len(full) * i // count for i in range(count + 1)] if full else [0]
        runs = [full[a:b] for a, b in itertools.pairwise(bounds)]
        rest = blocks[len(full) :]
        if runs:
            runs[-1] = runs[-1] + rest
            return runs
        return [rest]

    def _current_runs(self) -> list[_Run]:
        """The gallery's runs, made again only after the gallery changed."""
        version = self.gallery.version
        if self._plan is None or self._plan[0] != version:
            blocks = self.gallery.blocks()
            live = {b.index for b in blocks}
            self._maxima = {i: m for i, m in self._maxima.items() if i in live}
            runs = [self._make_run(run) for run in self._split(blocks)]
            self._plan = (version, runs)
        return self._plan[1]

    def _make_run(self, blocks: list[Block]) -> _Run:
        feed: dict[str, Any] = {}
        maxima = []
        for i, block in enumerate(blocks):
            if self._device is None:
                codes, terms = self._host_codes(block)
                feed[f"codes{i}"] = codes
                feed[f"scales{i}"] = terms[SCALE]
                feed[f"zero_sums{i}"] = terms[ZERO_SUM]
                feed[f"neg_half_sq_norms{i}"] = terms[NEG_HALF_SQ_NORM]
            maxima.append(self._block_maxima(block))
        templates = sum(b.rows.shape[0] for b in blocks)
        code_norm, residual, half = (max(values) for values in zip(*maxima, strict=True))
        return _Run(blocks, templates, feed, code_norm, residual, half)

    def _block_maxima(self, block: Block) -> tuple[float, float, float]:
        cached = self._maxima.get(block.index)
        if cached is None or cached[0] != block.version:
            terms = block.terms
            cached = (
                block.version,
                float(terms[CODE_NORM].max()),
                float(terms[RESIDUAL].max()),
                float(-terms[NEG_HALF_SQ_NORM].min()),
            )
            self._maxima[block.index] = cached
        return cached[1], cached[2], cached[3]

    def _scan(
        self,
        q: npt.NDArray[np.float32],
        coded: QueryCodes | None,
        kind: str,
        runs: list[_Run],
        want: list[int],
        indices: range | list[int],
    ) -> list[list[Any]]:
        """The chosen runs' (B, want) best group scores and numbers, in `indices` order."""
        if self._device is not None:
            return self._run_resident(q, [runs[i] for i in indices], want, indices, self._device)
        assert coded is not None
        # Made here, not by two workers at once.
        sessions = [self._session(kind, len(runs[i].blocks)) for i in indices]
        common = {"queries": coded.codes, "scale": np.array(coded.scale, np.float32)}
        feeds = []
        for i in indices:
            feed = {**common, "k": np.array([want[i]], np.int64), **runs[i].feed}
            if kind == "batch":
                feed = {name: v for name, v in feed.items() if not name.startswith("zero_sums")}
            feeds.append(feed)
        return self._run_cpu(sessions, feeds)

    def _run_cpu(self, sessions: list[Any], feeds: list[dict[str, Any]]) -> list[list[Any]]:
        results: list[list[Any]] = [[] for _ in feeds]
        pending = iter(range(len(feeds)))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                results[index] = sessions[index].run(None, feeds[index])

        # The calling thread works too: waking a pool thread took 20-100 us on a 2-core VM,
        # and the caller would only have waited.
        helpers = min(self.threads, len(feeds)) - 1
        if helpers > 0 and self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="egate-search")
        futures = [self._pool.submit(work) for _ in range(helpers)] if self._pool else []
        try:
            work()
        finally:
            for future in futures:
                future.result()
        return results

    def _host_codes(self, block: Block) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
        """A full block's codes and terms are contiguous views of the mapped files, fed as they
        are; the last, partly filled block is strided, copied (and padded) once per gallery
        change."""
        if block.codes.shape[1] == self.gallery.block_size and block.codes.flags.c_contiguous:
            return block.codes, block.terms
        cached = self._copies.get(block.index)
        if cached is None or cached[0] != block.version or cached[2] != block.codes.shape[1]:
            width = block.codes.shape[1]
            padded = -(-width // self.group) * self.group
            codes = np.zeros((block.codes.shape[0], padded), np.int8)
            codes[:, :width] = block.codes
            # Zero scale and -inf for -|g|^2/2: a padding column scores -inf, never wins.
            terms = np.zeros((block.terms.shape[0], padded), np.float32)
            terms[:, :width] = block.terms
            terms[NEG_HALF_SQ_NORM, width:] = -np.inf
            cached = (block.version, (codes, terms), width)
            self._copies = {block.index: cached}
        codes, terms = cached[1]
        return codes, terms

    def _padded(self, block: Block) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """The block's rows and norms, contiguous, widened to a whole number of groups by
        zero rows whose +inf norm makes their score -inf."""
        width = block.rows.shape[0]
        padded = -(-width // self.group) * self.group
        rows = np.zeros((padded, block.rows.shape[1]), block.rows.dtype)
        rows[:width] = block.rows
        norms = np.full(padded, np.inf, np.float32)
        norms[:width] = block.half_sq_norms
        return rows, norms

    def _run_resident(
        self,
        q: npt.NDArray[np.float32],
        runs: list[_Run],
        want: list[int],
        indices: range | list[int],
        device: tuple[str, int],
    ) -> list[list[Any]]:
        ort = self._ort
        q_device = ort.OrtValue.ortvalue_from_numpy(q, *device)
        last = self.gallery.blocks()[-1].index
        for stale in [i for i in self._copies if i > last]:
            del self._copies[stale]
        results = []
        for run, index in zip(runs, indices, strict=True):
            session = self._session("float", len(run.blocks))
            binding = session.io_binding()
            binding.bind_ortvalue_input("queries", q_device)
            binding.bind_cpu_input("k", np.array([want[index]], np.int64))
            for i, block in enumerate(run.blocks):
                columns, norms = self._device_block(block, device)
                binding.bind_ortvalue_input(f"block{i}", columns)
                binding.bind_ortvalue_input(f"half_sq_norms{i}", norms)
            for output in session.get_outputs():
                binding.bind_output(output.name, "cpu")
            session.run_with_iobinding(binding)
            results.append(binding.copy_outputs_to_cpu())
        return results

    def _device_block(self, block: Block, device: tuple[str, int]) -> tuple[Any, Any]:
        cached = self._copies.get(block.index)
        width = block.rows.shape[0]
        if cached is None or cached[0] != block.version or cached[2] != width:
            ort = self._ort
            columns, norms = self._padded(block)
            values = (
                ort.OrtValue.ortvalue_from_numpy(columns, *device),
                ort.OrtValue.ortvalue_from_numpy(norms, *device),
            )
            cached = (block.version, values, width)
            self._copies[block.index] = cached
        columns_value, norms_value = cached[1]
        return columns_value, norms_value

    def _rerank(
        self,
        q: npt.NDArray[np.float32],
        rows: npt.NDArray[np.intp],
        slots: npt.NDArray[np.int64],
        k: int,
        threshold: float | None,
    ) -> list[list[Hit]]:
        """Per query: the kept templates (slots[i] kept for query rows[i], rows ascending),
        and among them the k nearest by true float64 distance, ties to the lower slot (a
        stable sort of the distances). Where many are kept (near-duplicate templates), they
        are first scored in float32, each within its rounding bound, and only those whose
        bound reaches the k-th best lower bound go on to float64."""
        templates, halves = self.gallery.templates_at(slots)
        if len(slots) > max(DIRECT_MEMBERS * k * len(q), DIRECT_FLOOR):
            lower, upper = _float32_bounds(q, rows, templates, halves)
            chosen = upper >= _kth_by_query(rows, lower, len(q), k)[rows]
            rows, slots, templates = rows[chosen], slots[chosen], templates[chosen]
        diff = templates.astype(np.float64) - q.astype(np.float64)[rows]
        distances = np.sqrt(np.square(diff).sum(axis=1))
        order = np.lexsort((slots, distances, rows))
        rows, slots, distances = rows[order], slots[order], distances[order]
        # Each query's first k, within the threshold if one is given.
        starts = np.searchsorted(rows, np.arange(len(q) + 1))
        best = np.arange(len(rows)) - starts[rows] < k
        if threshold is not None:
            best &= distances <= threshold
        ids = self.gallery.ids_at(slots[best])
        hits = [Hit(i, d) for i, d in zip(ids, distances[best].tolist(), strict=True)]
        ends = np.cumsum(np.bincount(rows[best], minlength=len(q))).tolist()
        return [hits[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _members(output: list[Any]) -> npt.NDArray[np.float32]:
    """(B, want, group) scores of the members of a run's returned groups: the graph's
    ``members`` output, or its ``scores`` where a group is one template."""
    scores: npt.NDArray[np.float32] = output[2] if len(output) > 2 else output[0][:, :, None]
    return scores


def _member_reach(
    maxima: npt.NDArray[np.float64],
    members: npt.NDArray[np.float32],
    errors: npt.NDArray[np.float64],
    k: int,
) -> npt.NDArray[np.float64]:
    """(B,) T: the k-th best lower bound (approximate score less its error bound) among the
    members of each query's k best returned groups (by the lower bound of their maxima), so
    at least k templates reach T. Any k templates would make T sound; the best lower bounds
    nearly always lie in those groups, so T is about as high as over all returned members,
    at a fraction of the work."""
    lower = maxima - errors
    if lower.shape[1] > k:
        best = np.argpartition(-lower, k - 1, axis=1)[:, :k]
    else:
        best = np.broadcast_to(np.arange(lower.shape[1]), lower.shape)
    queries = np.arange(len(lower))[:, None]
    scores = members[queries, best].astype(np.float64) - errors[queries, best][:, :, None]
    return _kth_largest(scores.reshape(len(lower), -1), k)


def _float32_bounds(
    q: npt.NDArray[np.float32],
    rows: npt.NDArray[np.intp],
    templates: npt.NDArray[np.float32],
    halves: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(m,) lower and upper bounds of the true scores q.g - |g|^2/2 of templates (m, dim),
    template i against query rows[i]: float32 scores, each within its rounding bound."""
    scores = np.einsum("md,md->m", templates, q[rows]).astype(np.float64) - halves
    norms = np.sqrt(np.square(q.astype(np.float64)).sum(axis=1))[rows]
    error = rounding_bound(q.shape[1], norms, halves.astype(np.float64))
    return scores - error, scores + error


def _kth_by_query(
    rows: npt.NDArray[np.intp], values: npt.NDArray[np.float64], queries: int, k: int
) -> npt.NDArray[np.float64]:
    """(queries,) the k-th largest of each query's values (values[i] belong to query rows[i],
    rows ascending); -inf for a query with fewer than k."""
    counts = np.bincount(rows, minlength=queries)
    place = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    grid = np.full((queries, int(counts.max(initial=0))), -np.inf)
    grid[rows, place] = values
    return _kth_largest(grid, k)


def _kth_largest(values: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """Per row, the k-th largest value; -inf for rows of fewer than k values."""
    if values.shape[1] < k:
        return np.full(len(values), -np.inf)
    return -np.partition(-values, k - 1, axis=1)[:, k - 1]
