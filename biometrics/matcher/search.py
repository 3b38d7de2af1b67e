"""1:N search: queries (B, dim) against a `Gallery`, exact top-k by Euclidean distance.

A search has two stages. The scan runs the search graph over runs of gallery blocks (a run is
~65,536 templates, one ONNX run on one worker thread). On the CPU it reads the gallery's 8-bit
codes (`codes`, `graphs.code_search_graph`), a quarter of a float32 gallery's bytes, with the
graphs of the gallery's codes layout (`codes.CodesLayout`: ``query @ codes`` over columns,
``codes @ query`` over rows where the CPU has AMX); on CUDA it
multiplies the float blocks resident on the device (`graphs.search_graph`). Either way every
approximate score comes with a bound on its error (the codes' quantisation bound, or float32
rounding), per run and query, and the graph ranks groups of GROUP consecutive templates by
their best approximate score.

Each run returns its k best groups and every group whose best score lies within twice the
run's bound of the k-th of them, with the approximate scores of their members, so every member
has an interval that holds its true score. T, the k-th best lower bound among the members of
the runs' k best groups, is a score that at least k templates reach; a group left out lies
more than one bound below T, so every template of the true top k (and every template tied with
the k-th) is a returned member whose upper bound reaches T, and no run is ever scanned twice.
Only those members (a few dozen a query) are read from the stored templates and re-ranked with
true float64 Euclidean distances (not the cancellation-prone |q|^2+|g|^2-2q.g), ties (equal
float64 distances) to the lower gallery slot, as a stable sort of the distances would. So the
top k is the float64 reference's, whatever the data. (A gallery of near-duplicates keeps many
more, every copy: those are re-ranked while the scan goes on, a bounded chunk at a time, so a
search's memory does not grow with them; see rerank.)

A one-query scan on the CPU takes that a step further inside each run (`_scan_one`): the graph
returns the templates themselves whose score reaches the run's k-th best member score less
twice its bound, and the thread that ran the run re-ranks them in float64 at once, while the
other threads still scan, and merges them into the k nearest so far (`rerank.Nearest`). The run's
own top k is among them, so the gallery's top k is among every run's; the k-th nearest so far
is a score the top k reaches, by which the runs started later prune.

On the CUDA provider every block is copied to the device once (an OrtValue per block, refreshed
only when the gallery changes that block) and bound with IOBinding; a search moves only the
queries to the device and the (B, k) winners back.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from biometrics import runtime
from biometrics.embedding import Provider, ProviderUnavailable
from biometrics.matcher.codes import (
    CODE_NORM,
    NARROW,
    NEG_HALF_SQ_NORM,
    RESIDUAL,
    SCALE,
    WIDE,
    ZERO_POINT,
    ZERO_SUM,
    CodesLayout,
    QueryCodes,
    encode_queries,
    rounding_bound,
)
from biometrics.matcher.crew import Balance, Crew, Round
from biometrics.matcher.errors import EmptyGallery, InvalidArgument
from biometrics.matcher.gallery import Block, Gallery, GalleryDtype
from biometrics.matcher.graphs import code_search_graph, search_graph
from biometrics.matcher.kernel import host_query_range
from biometrics.matcher.rerank import (
    Best,
    Kept,
    Nearest,
    Reranker,
    RunningReach,
    Threads,
    direct,
    float32_up,
)
from biometrics.matcher.vectors import as_vectors, check_threshold

# A run's selection keeps every group within 2 * its error bound of its k-th best group (see
# graphs._best_groups_model), the bound widened by this factor: the float32 subtraction in the
# graph errs by under 1e-3 of a bound, which always holds a 1e-4 rounding allowance (codes).
SLACK_MARGIN = 1.0 + 1e-3
# The term rows the one-query graph takes, by input name (a ROWS gallery's graph takes no
# zero sums: its product's zero point is on the codes).
_SINGLE_TERMS = {"scales": SCALE, "zero_sums": ZERO_SUM, "neg_half_sq_norms": NEG_HALF_SQ_NORM}
_ROWS_SINGLE_TERMS = {"scales": SCALE, "neg_half_sq_norms": NEG_HALF_SQ_NORM}
# Templates per group (gcd(block size, GROUP) for other block sizes). 32 against 16: the
# ReduceMax pass and the TopK have half the maxima to write and rank, while a run selects about
# as many groups (108 a query at 100k, B = 64), each with twice the members to filter (3,449
# against 1,738 a query); the same 60 are kept. In-process A/B on a 2-core Zen 5, searches
# alternating: 0.88-0.96 of the time with 16 at B = 64 (100k, 1M, 10M), 0.95 at 256, 0.98-0.99
# at 1, 0.99-1.01 at 1,024; 64 gained less (0.98-0.99 at B = 64).
GROUP = 32
# Queries per graph run: bounds the (B, C) score temporary.
MAX_RUN_QUERIES = 1024
# Templates per ONNX run (in whole gallery blocks, at least one): TopK costs ~3 us a query row
# whatever its length, so at B = 64 runs of 16,384 templates spent ~8% of the search in TopK;
# 65,536 spend 2%.
RUN_TEMPLATES = 65536


class Hit(NamedTuple):
    """One gallery template near a query: its id and the Euclidean distance (dlib units).
    A named tuple: a 64-query search makes 640, which took 0.16 ms made by tuple.__new__
    against 0.30 ms as frozen dataclasses (a 2-core Xeon, Python 3.11)."""

    id: str
    distance: float


@dataclass
class _Run:
    """Consecutive blocks scanned by one ONNX run: its number of templates, its blocks' inputs
    for the batch codes graph (host arrays; the CUDA path binds its own) and, once a one-query
    search needed them, the number of stacks and the inputs of the one-query graph."""

    blocks: list[Block]
    templates: int
    feed: dict[str, Any]
    stacked: tuple[int, dict[str, Any]] | None = None


@dataclass(frozen=True)
class _Plan:
    """A gallery version's runs and, as (runs,) arrays, each run's first slot and the largest
    template factors of the error bound over its blocks: s|c|, |g - s*c| and |g|^2/2."""

    version: int
    runs: list[_Run]
    firsts: npt.NDArray[np.int64]
    code_norm: npt.NDArray[np.float64]
    residual: npt.NDArray[np.float64]
    half_sq_norm: npt.NDArray[np.float64]
    # Of even runs, one a thread: the one-query scan's choices (see Searcher._shares).
    shares: tuple[list[tuple[int, int]], int] | None


class Searcher:
    """Exact k-nearest-neighbour search over a gallery with ONNX Runtime.

    The searcher follows the gallery: templates added, removed or replaced after it was made
    are seen by the next search. `threads` is the number of runs of blocks searched at once
    (None: all cores). `narrow_codes` takes narrow query codes (codes.NARROW) where the host's
    int8 product would take full-range ones (to measure them; see kernel.host_query_range).
    Raises ProviderUnavailable when `provider` is not in this onnxruntime build.
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
        narrow_codes: bool = False,
    ) -> None:
        ort = runtime.onnxruntime()

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
        # The gallery's codes layout picks the graphs (see codes.CodesLayout).
        self._rows = gallery.codes_layout is CodesLayout.ROWS
        self._options = options
        self._providers = providers
        # One session per (graph kind, number of blocks in a run), made when first needed.
        self._sessions: dict[tuple[str, int], Any] = {}
        # Where gallery blocks live as OrtValues bound through IOBinding, scanned in float: the
        # CUDA device, or None to scan the mapped host codes (CPU).
        self._device: tuple[str, int] | None = None
        if provider is Provider.CUDA:
            self._device = ("cuda", device_id)
        # A scan of the host codes: the host's int8 product picks the range of the query
        # codes (see kernel.host_query_range). A device scan multiplies floats, no codes.
        self._query_range = WIDE
        if self._device is None:
            self._query_range = NARROW if narrow_codes else host_query_range()
        # Per block index: (version, arrays or device values) for blocks we keep a copy of.
        self._copies: dict[int, tuple[int, Any, int]] = {}
        # Per block index: (version, largest s|c|, |g - s*c|, |g|^2/2).
        self._maxima: dict[int, tuple[int, float, float, float]] = {}
        # One-query feeds of runs, by their blocks' (index, version, width): the stacked
        # term rows are copies, remade only for runs whose blocks changed.
        self._stacks: dict[tuple[tuple[int, int, int], ...], dict[str, Any]] = {}
        # By the calling thread's blocks in a one-query scan (None: even runs); remade only
        # when the gallery changes.
        self._plans: dict[int | None, _Plan] = {}
        self._crew: Crew | None = None
        self._balance = Balance()
        self._rerank = Reranker(gallery)

    def close(self) -> None:
        """Stop the worker threads and drop device copies (the gallery stays open)."""
        if self._crew is not None:
            self._crew.close()
            self._crew = None
        self._copies = {}
        self._plans = {}

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
        kind = self._kind(len(q))
        plan = self._one_query_plan() if kind == "single" else self._current_plan()
        coded = encode_queries(q, self._query_range) if kind != "float" else None
        bounds = self._error_bounds(q, coded, plan)
        # Scores a hit must reach: (|q|^2 - threshold^2) / 2, less float64 rounding.
        floor = np.full(len(q), -np.inf)
        if threshold is not None:
            sq = np.square(q.astype(np.float64)).sum(axis=1)
            floor = 0.5 * (sq - threshold**2) - 1e-9 * (sq + threshold**2 + 1.0)
        if kind == "single":
            assert coded is not None
            return self._hits_one(self._scan_one(q, coded, plan.runs, k, bounds, floor), threshold)
        kept = Kept(self._rerank, self.group, q, k, plan.firsts, bounds.T)
        reach = self._scan(q, coded, plan.runs, k, bounds, floor, kept)
        # T: the k-th best lower bound among the members of every run's k best groups (or
        # the floor). The templates that may belong in the top k: the members, of the groups
        # each run selected, whose own upper bound reaches T.
        rows, slots = kept.remaining(reach)
        if len(q) == 1 and kept.settled is None and len(slots) <= direct(k, 1):
            slots, distances = self._rerank.nearest_one(q[0].astype(np.float64), slots, k)
            best = np.zeros(len(slots), np.intp), slots, distances
        else:
            threads = Threads(self.threads, self._on_threads)
            best = self._rerank.settle(q, rows, slots, k, kept.settled, shared=threads)
        return self._hits(len(q), best, threshold)

    def _kind(self, queries: int) -> str:
        """The scan's graph: float templates on a device, else codes for one query or many."""
        if self._device is not None:
            return "float"
        return "single" if queries == 1 else "batch"

    def _error_bounds(
        self, q: npt.NDArray[np.float32], coded: QueryCodes | None, plan: _Plan
    ) -> npt.NDArray[np.float64]:
        """(B, runs) bound on |approximate - true score| of every template of each run."""
        if coded is None:
            norms = np.sqrt(np.square(q.astype(np.float64)).sum(axis=1))[:, None]
        else:
            norms = coded.norms[:, None]
        bounds: npt.NDArray[np.float64] = rounding_bound(self.gallery.dim, norms, plan.half_sq_norm)
        if coded is not None:
            bounds += coded.errors[:, None] * plan.code_norm + norms * plan.residual
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
                    group=self.group,
                    single=kind == "single",
                    rows=self._rows,
                    query_zero_point=self._query_range.zero_point,
                )
            session = self._ort.InferenceSession(
                graph.SerializeToString(), self._options, providers=self._providers
            )
            self._sessions[(kind, blocks)] = session
        return session

    def _split(self, blocks: list[Block], first: int | None = None) -> list[list[Block]]:
        """Consecutive blocks in runs of about RUN_TEMPLATES, as even as possible and a
        multiple of `threads` in number (so the workers finish together), or, given `first`
        and one run a thread, `first` full blocks in the first run (see `_cuts`). The partly
        filled last block joins the last run: on its own it was one more ONNX run, ~50 us at
        the end of a 100k one-query search that the other worker sat out."""
        full = [b for b in blocks if b.rows.shape[0] == self.gallery.block_size]
        count = self._run_count(len(full))
        bounds = _cuts(len(full), count, first) if full else [0]
        runs = [full[a:b] for a, b in itertools.pairwise(bounds)]
        rest = blocks[len(full) :]
        if runs:
            runs[-1] = runs[-1] + rest
            return runs
        return [rest]

    def _run_count(self, full: int) -> int:
        """Runs of a gallery of `full` full blocks (at least one, for its partly filled one)."""
        count = -(-full // max(1, RUN_TEMPLATES // self.gallery.block_size))
        return max(1, min(full, -(-count // self.threads) * self.threads))

    def _current_plan(self, first: int | None = None) -> _Plan:
        """The gallery's runs (`_split`), made again only after the gallery changed."""
        version = self.gallery.version
        if self._plans and self._plans[None].version != version:
            self._plans = {}
        plan = self._plans.get(first)
        if plan is None:
            blocks = self.gallery.blocks()
            if not self._plans:
                live = {b.index for b in blocks}
                self._maxima = {i: m for i, m in self._maxima.items() if i in live}
            runs = [self._make_run(run) for run in self._split(blocks, first)]
            # (runs, 3): each factor's largest over a run's blocks.
            factors = np.array(
                [np.max([self._block_maxima(b) for b in run.blocks], axis=0) for run in runs]
            )
            code_norm, residual, half_sq_norm = np.ascontiguousarray(factors.T)
            plan = _Plan(
                version,
                runs,
                np.array([run.blocks[0].first_slot for run in runs], np.int64),
                code_norm,
                residual,
                half_sq_norm,
                self._shares(runs) if first is None else None,
            )
            self._plans[first] = plan
        return plan

    def _one_query_plan(self) -> _Plan:
        """The runs of a one-query scan: where each thread has one, the calling thread's holds
        as many full blocks as `self._balance` chooses (see crew.Balance)."""
        plan = self._current_plan()
        if plan.shares is None:
            return plan
        shares, even = plan.shares
        choice = self._balance.choose(shares, even)
        return plan if choice == even else self._current_plan(choice + 1)

    def _shares(self, runs: list[_Run]) -> tuple[list[tuple[int, int]], int] | None:
        """For a one-query scan of one run a thread (else None): the (calling thread's, largest
        helper's) templates when the first run holds 1, 2, ... full blocks, and which of
        those the even runs are."""
        if self.threads < 2 or len(runs) != self.threads:
            return None
        size = self.gallery.block_size
        full = sum(len(b.rows) == size for run in runs for b in run.blocks)
        rest = sum(run.templates for run in runs) - full * size
        shares = []
        for first in range(1, full - self.threads + 2):
            cuts = _cuts(full, self.threads, first)
            counts = [(b - a) * size for a, b in itertools.pairwise(cuts)]
            counts[-1] += rest
            shares.append((counts[0], max(counts[1:])))
        return shares, _cuts(full, self.threads, None)[1] - 1

    def _make_run(self, blocks: list[Block]) -> _Run:
        feed: dict[str, Any] = {}
        for i, block in enumerate(blocks):
            if self._device is None:
                codes, terms = self._host_codes(block)
                feed[f"codes{i}"] = codes
                # A ROWS graph scales its (C, B) scores by (C, 1) columns (views all the same).
                shape = (-1, 1) if self._rows else (-1,)
                feed[f"scales{i}"] = terms[SCALE].reshape(shape)
                feed[f"neg_half_sq_norms{i}"] = terms[NEG_HALF_SQ_NORM].reshape(shape)
        return _Run(blocks, sum(b.rows.shape[0] for b in blocks), feed)

    def _block_maxima(self, block: Block) -> tuple[float, float, float]:
        """The block's largest s|c|, |g - s*c| and |g|^2/2, cached by block version."""
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
        runs: list[_Run],
        k: int,
        bounds: npt.NDArray[np.float64],
        floor: npt.NDArray[np.float64],
        kept: Kept,
    ) -> RunningReach:
        """Every run's selection (see graphs._best_groups_model): each run returns its k best
        groups and every group within twice its error bound of the k-th of them (and, with a
        threshold, within its bound of the floor, or of the reach of the runs done before it).
        Each run's members go to `kept` as the run finishes. Returns the reach of all runs."""
        margin = bounds.T * SLACK_MARGIN
        reach = RunningReach(k, floor, margin)
        # (runs, B, 1): each run's (B, 1) slack is a contiguous view. Its ``lowest`` is set as
        # the run starts (see rerank.RunningReach).
        slack = float32_up(2.0 * margin)[:, :, None]
        feeds = []
        for r, run in enumerate(runs):
            feeds.append({"k": np.array([self._best_groups(run, k)], np.int64), "slack": slack[r]})
        if self._device is not None:
            self._run_resident(q, runs, feeds, reach, kept, self._device)
            return reach
        assert coded is not None
        common = self._query_feed(coded)
        for run, feed in zip(runs, feeds, strict=True):
            feed.update(run.feed)
            feed.update(common)
        # Made here, not by two workers at once.
        sessions = [self._session("batch", len(run.blocks)) for run in runs]

        def finish(index: int, outputs: list[Any], lock: threading.Lock) -> None:
            kept.add(index, outputs, reach, lock)

        self._run_cpu(sessions, feeds, reach.lowest, finish)
        return reach

    def _scan_one(
        self,
        q: npt.NDArray[np.float32],
        coded: QueryCodes,
        runs: list[_Run],
        k: int,
        bounds: npt.NDArray[np.float64],
        floor: npt.NDArray[np.float64],
    ) -> list[tuple[float, int]]:
        """A one-query search on the CPU: each run's graph returns the templates that may
        belong in its top k (`graphs._one_query_candidates`), and the thread that ran it
        re-ranks them in float64 at once and merges them into the k nearest so far
        (`rerank.Nearest`), whose k-th best score every run started later prunes by. The k nearest
        of every run's candidates are the gallery's. Returns them as (distance, slot) pairs,
        nearest first."""
        margin = bounds[0] * SLACK_MARGIN  # (runs,)
        slack = float32_up(2.0 * margin).reshape(-1, 1, 1)
        nearest = Nearest(self._rerank, q, k, float(floor[0]), margin)
        common = self._query_feed(coded)
        feeds, sessions = [], []
        for r, run in enumerate(runs):
            count, stacked = self._stacked_feed(run)
            groups = self._best_groups(run, k)
            feeds.append(
                {
                    **stacked,
                    **common,
                    "k": np.array([groups], np.int64),
                    "member_k": np.array([min(k, groups * self.group)], np.int64),
                    "slack": slack[r],
                }
            )
            # Made here, not by two workers at once.
            sessions.append(self._session("single", count))

        def finish(index: int, outputs: list[Any], lock: threading.Lock) -> None:
            nearest.add(outputs[0] + runs[index].blocks[0].first_slot, lock)

        sizes = [run.templates for run in runs]
        scan = self._run_cpu(sessions, feeds, nearest.lowest, finish, sizes)
        if scan is not None and len(runs) == self.threads:
            self._balance.observe(scan)
        return nearest.best

    def _best_groups(self, run: _Run, k: int) -> int:
        """How many best groups a run returns (its ``k`` input): k, or all of its groups."""
        return min(k, -(-run.templates // self.group))

    def _query_feed(self, coded: QueryCodes) -> dict[str, Any]:
        """The query codes and their scale, as every run of a CPU scan takes them."""
        queries = coded.columns() if self._rows else coded.codes
        return {"queries": queries, "scale": np.array(coded.scale, np.float32)}

    def _stacked_feed(self, run: _Run) -> tuple[int, dict[str, Any]]:
        """A run's number of stacks and inputs for the one-query graph: its full blocks as one
        stack, the partly filled last block as a second. Kept on the run, so the codes are
        views taken again when the gallery changes; the term rows are copied once per change
        of the run's own blocks."""
        if run.stacked is not None:
            return run.stacked
        full = [b for b in run.blocks if len(b.rows) == self.gallery.block_size]
        segments: list[tuple[npt.NDArray[Any], npt.NDArray[np.float32]]] = []
        if full:
            segments.append(self.gallery.stacked_codes(full[0].index, full[-1].index + 1))
        for block in run.blocks[len(full) :]:
            codes, terms = self._host_codes(block)
            segments.append((codes[None], terms[None]))
        key = _blocks_key(run)
        rows = self._stacks.get(key)
        if rows is None:
            # (n, 1, C) for ``query @ codes``; (n, C) for a ROWS gallery's ``codes @ query``.
            names = _ROWS_SINGLE_TERMS if self._rows else _SINGLE_TERMS
            rows = {
                f"{name}{i}": np.ascontiguousarray(
                    terms[:, row] if self._rows else terms[:, row : row + 1]
                )
                for i, (_, terms) in enumerate(segments)
                for name, row in names.items()
            }
            live = {_blocks_key(r) for plan in self._plans.values() for r in plan.runs}
            self._stacks = {k: v for k, v in self._stacks.items() if k in live}
            self._stacks[key] = rows
        stacks = {f"codes{i}": codes for i, (codes, _) in enumerate(segments)}
        run.stacked = (len(segments), {**rows, **stacks})
        return run.stacked

    def _run_cpu(
        self,
        sessions: list[Any],
        feeds: list[dict[str, Any]],
        lowest: Callable[[int], npt.NDArray[np.float32]],
        finish: Callable[[int, list[Any], threading.Lock], None],
        sizes: Sequence[int] | None = None,
    ) -> Round | None:
        """Runs the sessions on the calling thread and the crew's, runs taken in order. Each
        run's ``lowest`` input is set as it starts, to `lowest(run)` (from the runs done so
        far), and its outputs go to `finish(run, outputs, lock)` as it ends, outside the scan's
        `lock`, which `finish` takes for what it shares. Returns as `_on_threads` does."""
        lock = threading.Lock()

        def claim(index: int) -> None:
            feeds[index]["lowest"] = lowest(index)

        def step(index: int) -> None:
            finish(index, sessions[index].run(None, feeds[index]), lock)

        return self._on_threads(len(feeds), step, lock, claim, sizes)

    def _on_threads(
        self,
        count: int,
        step: Callable[[int], None],
        lock: threading.Lock,
        claim: Callable[[int], None] | None = None,
        sizes: Sequence[int] | None = None,
    ) -> Round | None:
        """step(i) for i in range(count), taken in order by the calling thread and up to
        `threads` - 1 of the crew's; claim(i), if given, runs under `lock` as i is taken.
        Returns when each thread finished and the total `sizes` of the i it took (a count
        without them); None when the calling thread ran them all alone."""
        pending = iter(range(count))

        def work() -> int:
            done = 0
            while True:
                with lock:
                    index = next(pending, None)
                    if index is not None and claim is not None:
                        claim(index)
                if index is None:
                    return done
                step(index)
                done += 1 if sizes is None else sizes[index]

        # The calling thread works too: waking a crew thread took 20-100 us on a 2-core VM,
        # and the caller would only have waited.
        helpers = min(self.threads, count) - 1
        if helpers < 1:
            work()
            return None
        if self._crew is None:
            self._crew = Crew(self.threads - 1)
        return self._crew.run(work, helpers)

    def _host_codes(self, block: Block) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """A full block's codes and terms are contiguous views of the mapped files, fed as they
        are; the last, partly filled block is strided, copied (and padded) once per gallery
        change."""
        width = len(block.rows)
        if width == self.gallery.block_size and block.codes.flags.c_contiguous:
            return block.codes, block.terms
        cached = self._copies.get(block.index)
        if cached is None or cached[0] != block.version or cached[2] != width:
            padded = -(-width // self.group) * self.group
            # Padding templates have zero codes (ZERO_POINT in a ROWS gallery's uint8).
            if self._rows:
                codes = np.full((padded, self.gallery.dim), ZERO_POINT, np.uint8)
                codes[:width] = block.codes
            else:
                codes = np.zeros((self.gallery.dim, padded), np.int8)
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
        feeds: list[dict[str, Any]],
        reach: RunningReach,
        kept: Kept,
        device: tuple[str, int],
    ) -> None:
        ort = self._ort
        q_device = ort.OrtValue.ortvalue_from_numpy(q, *device)
        last = self.gallery.blocks()[-1].index
        for stale in [i for i in self._copies if i > last]:
            del self._copies[stale]
        for index, (run, feed) in enumerate(zip(runs, feeds, strict=True)):
            feed["lowest"] = reach.lowest(index)
            session = self._session("float", len(run.blocks))
            binding = session.io_binding()
            binding.bind_ortvalue_input("queries", q_device)
            for name, value in feed.items():
                binding.bind_cpu_input(name, value)
            for i, block in enumerate(run.blocks):
                columns, norms = self._device_block(block, device)
                binding.bind_ortvalue_input(f"block{i}", columns)
                binding.bind_ortvalue_input(f"half_sq_norms{i}", norms)
            for output in session.get_outputs():
                binding.bind_output(output.name, "cpu")
            session.run_with_iobinding(binding)
            kept.add(index, binding.copy_outputs_to_cpu(), reach, contextlib.nullcontext())

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

    def _hits(self, queries: int, best: Best, threshold: float | None) -> list[list[Hit]]:
        """The settled k best of each query as hits, nearest first (within the threshold)."""
        rows, slots, distances = best
        if threshold is not None:
            within = distances <= threshold
            rows, slots, distances = rows[within], slots[within], distances[within]
        ids = self.gallery.ids_at(slots)
        hits = list(
            map(tuple.__new__, itertools.repeat(Hit), zip(ids, distances.tolist(), strict=True))
        )
        if queries == 1:
            return [hits]
        ends = np.cumsum(np.bincount(rows, minlength=queries)).tolist()
        return [hits[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    def _hits_one(self, best: list[tuple[float, int]], threshold: float | None) -> list[list[Hit]]:
        """`_hits` of one query's (distance, slot) pairs, nearest first."""
        if threshold is not None:
            best = [(distance, slot) for distance, slot in best if distance <= threshold]
        ids = self.gallery.ids_at(np.array([slot for _, slot in best], np.int64))
        return [[Hit(i, distance) for i, (distance, _) in zip(ids, best, strict=True)]]


def _cuts(full: int, count: int, first: int | None) -> list[int]:
    """Where `count` runs of `full` blocks start, and the end: as even as possible, or, with
    `first`, `first` blocks (at least one, leaving one a run) in the first and the rest even
    (see crew.Balance)."""
    if first is None or count < 2:
        return [full * i // count for i in range(count + 1)]
    first = min(max(first, 1), full - count + 1)
    return [0, *(first + (full - first) * i // (count - 1) for i in range(count))]


def _blocks_key(run: _Run) -> tuple[tuple[int, int, int], ...]:
    """What a run's copied inputs depend on: its blocks' index, version and width."""
    return tuple((b.index, b.version, len(b.rows)) for b in run.blocks)
