"""The exact re-rank of a search: the templates a scan keeps of its runs' selections, and
among them each query's k nearest by true float64 Euclidean distance, ties (equal float64
distances) to the lower gallery slot, as a stable sort of the distances would (see `search`
for why those are the reference's top k whatever the data).

A batch scan holds its runs' selections (`Kept`) and the k-th best lower bound so far
(`RunningReach`); after the scan the members whose upper bound reaches it are re-ranked
(`Reranker.settle`). A one-query scan re-ranks each run's candidates as the run ends
(`Nearest`). A gallery of near-duplicates keeps every copy; those are re-ranked a bounded chunk
at a time, so a search's memory does not grow with them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from biometrics.matcher.codes import rounding_bound
from biometrics.matcher.gallery import Gallery
from biometrics.matcher.vectors import stored_as_float32

# Queries re-ranked together: bounds the gathered members.
RERANK_QUERIES = 128
# Kept templates re-ranked in float64 straight away: up to DIRECT_MEMBERS a query per k, or
# DIRECT_FLOOR in all. Beyond that a float32 prefilter pays for itself: at B = 64 and 100k
# templates a query keeps ~60, of which the prefilter passes ~10; a one-query search keeps
# ~50, where the prefilter cost more than float64 on all of them.
DIRECT_MEMBERS = 2
DIRECT_FLOOR = 256
# Members (of selected groups) a scan holds before it settles them (see Kept): ~20 MB of
# float32 scores with their groups' (query, group number) pairs, plus the selection of the run
# that went past it (a run's own is at most B x 65,536 members).
KEPT_MEMBERS = 1 << 22
# Kept templates re-ranked at a time (16 MiB of float64 differences at d = 128): a gallery of
# near-duplicates keeps every copy within the error bound, a million of them for one query of
# 10M identical templates; each chunk's exact k best are carried into the next. glibc maps
# every block over 32 MiB afresh, so chunks of 65,536 (64 MiB differences) page-faulted
# through each one: 64 queries against 200,000 copies took 14.4-15.7 s (7.1-7.3 s of it in the
# kernel, 0.8M minor faults), and 7.2-9.3 s in chunks of 16,384 (0.5-1.5 s, 41k faults).
RERANK_MEMBERS = 16384
# The same while the scan goes on (see Kept._settle), where a worker settles beside the others:
# there 16,384 page-faulted again, in the workers' own malloc arenas. 64 queries against 1M
# copies took 39.0-40.3 s with 8,192 or 16,384 (18-19 s in the kernel, 3-4M minor faults) and
# 24.7 s with 4,096 (7.6 s, 0.17M). Not for the final re-rank: there 4,096 took 1.065 of the
# time of 16,384 at B = 1,024 over 100k templates (0.986 over 1M; in-process A/B).
SCAN_RERANK_MEMBERS = 4096

# Of templates, one value each: the query row (of a batch) it is kept for, its gallery slot,
# its float64 distance to that query.
Rows = npt.NDArray[np.intp]
Slots = npt.NDArray[np.int64]
Distances = npt.NDArray[np.float64]
# Templates settled for a search.
Best = tuple[Rows, Slots, Distances]


def joined(*parts: Best) -> Best:
    """Settled templates of several parts, one after another."""
    rows, slots, distances = zip(*parts, strict=True)
    return np.concatenate(rows), np.concatenate(slots), np.concatenate(distances)


def first_k(
    rows: Rows,
    slots: Slots,
    distances: Distances,
    k: int,
) -> Best:
    """Each query row's k nearest (by distance, then slot), ordered by row, distance, slot."""
    order = np.lexsort((slots, distances, rows))
    rows, slots, distances = rows[order], slots[order], distances[order]
    starts = np.searchsorted(rows, rows, side="left")
    first = np.arange(len(rows)) - starts < k
    return rows[first], slots[first], distances[first]


def direct(k: int, queries: int) -> int:
    """Most kept templates re-ranked in float64 without the float32 check (see DIRECT_MEMBERS)."""
    return max(DIRECT_MEMBERS * k * queries, DIRECT_FLOOR)


class Threads(NamedTuple):
    """A searcher's threads, to share a re-rank among once its scan is over: `size` of them,
    and `run(count, step, lock)`, which calls step(i) for i in range(count) on them (see
    search.Searcher._on_threads)."""

    size: int
    run: Callable[[int, Callable[[int], None], threading.Lock], Any]


class Reranker:
    """The float64 re-rank over one gallery's stored templates."""

    def __init__(self, gallery: Gallery) -> None:
        self.gallery = gallery

    def settle(
        self,
        q: npt.NDArray[np.float32],
        rows: Rows,
        slots: Slots,
        k: int,
        carried: Best | None,
        *,
        shared: Threads | None = None,
        members: int | None = None,
    ) -> Best:
        """Per query: the kept templates (slots[i] kept for query rows[i], rows ascending) and
        those `carried` from earlier, and among them the k nearest by true float64 distance,
        ties to the lower slot (a stable sort of the distances). Taken RERANK_QUERIES queries
        and `members` (default RERANK_MEMBERS) templates at a time, each chunk's k best per
        query carried into the next, so memory stays bounded however many are kept.

        `shared`: the worker threads, idle once the scan is over, take chunks of queries too
        (at least one each); numpy and ONNX Runtime release the GIL in the large steps. Not
        from inside the scan, whose workers are busy."""
        size = RERANK_QUERIES
        if shared is not None:
            size = min(size, -(-len(q) // shared.size))
        width = members or RERANK_MEMBERS

        def settled(row: int) -> Best:
            first, end = np.searchsorted(rows, [row, row + size])
            part = q[row : row + size]
            chunk = slice(first, min(first + width, end))
            best = self._nearest(part, rows[chunk] - row, slots[chunk], k)
            for start in range(first + width, end, width):
                chunk = slice(start, min(start + width, end))
                more = self._nearest(part, rows[chunk] - row, slots[chunk], k)
                best = first_k(*joined(best, more), k)
            return best[0] + row, best[1], best[2]

        starts = range(0, len(q), size)
        parts: list[Best]
        if shared is not None:
            done: dict[int, Best] = {}

            def step(index: int) -> None:
                done[index] = settled(starts[index])

            shared.run(len(starts), step, threading.Lock())
            parts = [done[index] for index in range(len(starts))]
        else:
            parts = [settled(row) for row in starts]
        if carried is not None:
            parts.insert(0, carried)
        if len(parts) == 1:
            return parts[0]
        return first_k(*joined(*parts), k)

    def _nearest(
        self,
        q: npt.NDArray[np.float32],
        rows: Rows,
        slots: Slots,
        k: int,
    ) -> Best:
        """`first_k` of the kept templates by true float64 distance. Where many are kept
        (near-duplicate templates), they are first scored in float32, each within its rounding
        bound, and only those whose bound reaches the k-th best lower bound go on to float64."""
        stored, halves = self.gallery.templates_at(slots)
        if len(slots) > direct(k, len(q)):
            # The float32 copy (exact) goes on to float64: numpy widens float16 a value at a time.
            widened = stored_as_float32(stored)
            lower, upper = float32_bounds(q, rows, widened, halves)
            chosen = upper >= _kth_by_query(rows, lower, len(q), k)[rows]
            rows, slots, stored = rows[chosen], slots[chosen], widened[chosen]
        diff = stored.astype(np.float64) - q.astype(np.float64)[rows]
        return first_k(rows, slots, np.sqrt(np.square(diff).sum(axis=1)), k)

    def nearest_one(
        self, query: npt.NDArray[np.float64], slots: Slots, k: int
    ) -> tuple[Slots, Distances]:
        """The k nearest of a few templates to one query (dim,), by float64 distance, ties
        to the lower slot: (slots, distances), nearest first. What `settle` gives for so few
        (see `direct`), in a third of its numpy calls: after a scan the caches are cold and
        each call costs several microseconds (45 templates: 48 us after a run, 16 us warm, on
        a 2-core Xeon, model 167)."""
        diff = self.gallery.stored_at(slots).astype(np.float64)
        diff -= query
        np.square(diff, out=diff)
        distances = np.sqrt(diff.sum(axis=1))
        order = np.lexsort((slots, distances))[:k]
        return slots[order], distances[order]


class RunningReach:
    """The k-th best lower bound found so far, per query, while a scan's runs finish.

    A run's own selection keeps groups within 2 * its bound of its own k-th best, which at 10M
    templates (153 runs) returned ~60 groups a query from every run. Any k templates' lower
    bounds give a T that the final one is at least, so a run that starts after others finished
    can also leave out groups more than its bound below that: ``lowest`` = max(the floor, T so
    far) - the run's (widened) bound.
    """

    def __init__(
        self, k: int, floor: npt.NDArray[np.float64], margin: npt.NDArray[np.float64]
    ) -> None:
        self.k = k
        self.floor = floor
        self.margin = margin  # (runs, B)
        self.best: npt.NDArray[np.float64] = np.full((len(floor), k), -np.inf)

    def reached(self) -> npt.NDArray[np.float64]:
        """(B,) max(the floor, the k-th best lower bound so far). Once every run is added, each
        template of the true top k within the threshold scores at least this."""
        return np.maximum(self.floor, self.best[:, -1])

    def lowest(self, run: int) -> npt.NDArray[np.float32]:
        """(B, 1) the run's ``lowest`` input."""
        return float32_down(self.reached() - self.margin[run])[:, None]

    def add(self, run: int, top_members: npt.NDArray[np.float32]) -> None:
        """Counts a finished run's k best groups' members (B, k_r, group)."""
        lower = top_members.reshape(len(self.best), -1) - self.margin[run][:, None]
        merged = np.concatenate([self.best, lower], axis=1)
        self.best = np.sort(merged, axis=1)[:, : -self.k - 1 : -1]  # the k largest, descending


class Nearest:
    """A one-query scan's k nearest templates so far, exact, as its runs finish (see
    search.Searcher._scan_one), and the score they reach, by which a run started later prunes.

    Each run's candidates (a few dozen) are re-ranked by the thread that ran it
    (`Reranker.nearest_one`), while the other threads scan, so the last thread to finish
    re-ranks only its own run's. The k best are kept as Python (distance, slot) pairs, which
    order ties to the lower slot. A gallery of near-duplicates gives a run up to all of its
    templates as candidates; those are re-ranked a bounded chunk at a time
    (`Reranker.settle`).
    """

    def __init__(
        self,
        reranker: Reranker,
        q: npt.NDArray[np.float32],
        k: int,
        floor: float,
        margin: npt.NDArray[np.float64],
    ) -> None:
        self.reranker = reranker
        self.q = q  # (1, dim)
        self.query = q[0].astype(np.float64)  # widened once, not in each run's re-rank
        self.k = k
        self.margin = margin  # (runs,) each run's widened error bound
        self.square = float(np.square(self.query).sum())
        self.best: list[tuple[float, int]] = []  # (distance, slot), nearest first
        # The least score of a hit (the floor), or of the k-th nearest so far, less rounding.
        self.reached = floor

    def lowest(self, run: int) -> npt.NDArray[np.float32]:
        """(1, 1) the run's ``lowest`` input: what the top k reaches so far, less its bound."""
        return float32_down(np.array([[self.reached - self.margin[run]]]))

    def add(self, slots: Slots, lock: threading.Lock) -> None:
        """Re-ranks a finished run's candidates (gallery slots, ascending) and merges them in."""
        gallery = self.reranker.gallery
        if len(slots) == 0:
            return
        if slots[-1] >= len(gallery):
            slots = slots[slots < len(gallery)]  # not the last block's padding
        if len(slots) <= direct(self.k, 1):
            slots, distances = self.reranker.nearest_one(self.query, slots, self.k)
        else:
            rows = np.zeros(len(slots), np.intp)
            chunk = min(RERANK_MEMBERS, SCAN_RERANK_MEMBERS)
            _, slots, distances = self.reranker.settle(
                self.q, rows, slots, self.k, None, members=chunk
            )
        part = list(zip(distances.tolist(), slots.tolist(), strict=True))
        with lock:
            self.best = sorted(self.best + part)[: self.k]
            if len(self.best) == self.k:
                # Score q.g - |g|^2/2 = (|q|^2 - d^2) / 2, less its float64 rounding.
                square, distance = self.square, self.best[-1][0] ** 2
                score = 0.5 * (square - distance) - 1e-9 * (square + distance + 1.0)
                self.reached = max(self.reached, score)


class Kept:
    """The members of the groups a scan's runs selected, held as the runs finish.

    Normally a few dozen a query are kept in the end. A gallery of near-duplicates keeps every
    copy (each within the bound of the others), 10M for one query of 10M identical templates;
    so once the runs' selections hold more than KEPT_MEMBERS members, those whose upper bound
    reaches the reach so far are settled on the spot (re-ranked in float64, only each query's
    k best carried on). The reach only grows, so a member left out then could never have
    reached the final T. A scan then holds about KEPT_MEMBERS members whatever the gallery
    (and each worker at most KEPT_MEMBERS more while it settles them).
    """

    def __init__(
        self,
        reranker: Reranker,
        group: int,
        q: npt.NDArray[np.float32],
        k: int,
        firsts: npt.NDArray[np.int64],
        bounds: npt.NDArray[np.float64],
    ) -> None:
        self.reranker = reranker
        self.group = group  # templates a group
        self.q = q
        self.k = k
        self.firsts = firsts  # (runs,) each run's first slot
        self.bounds = bounds  # (runs, B) each run's error bound per query
        # Finished runs' selections: (run, pairs (2, M), members' scores (M, group)).
        self.held: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        self.size = 0
        self.settled: Best | None = None
        self._merging = threading.Lock()

    def add(
        self,
        run: int,
        outputs: Sequence[Any],
        reach: RunningReach,
        lock: contextlib.AbstractContextManager[Any],
    ) -> None:
        """A finished run's outputs (see graphs._best_groups_model), under the scan's `lock`:
        its k best groups' members go to the reach, and its selection is held: ``pairs``
        (2, M), the (query row, group number) of each selected group, and ``selected``
        (M, group), its members' scores. Once more than KEPT_MEMBERS are held, those that can
        still reach the top k (`remaining`) are settled after the lock is released."""
        _, _, top_members, pairs, selected = outputs
        with lock:
            reach.add(run, top_members)
            self.held.append((run, pairs, selected))
            self.size += selected.size
            taken = self.remaining(reach) if self.size > KEPT_MEMBERS else None
        if taken is not None:
            self._settle(*taken)

    def _settle(self, rows: Rows, slots: Slots) -> None:
        """Re-ranks members `add` took and merges their k best per query into `settled`.
        Thread-safe, and run outside the scan's lock: for a gallery of copies it takes
        seconds, which under the lock left the other workers waiting (64 queries against 1M
        copies ran on one core)."""
        members = min(RERANK_MEMBERS, SCAN_RERANK_MEMBERS)
        part = self.reranker.settle(self.q, rows, slots, self.k, None, members=members)
        with self._merging:
            if self.settled is not None:
                part = first_k(*joined(self.settled, part), self.k)
            self.settled = part

    def remaining(self, reach: RunningReach) -> tuple[Rows, Slots]:
        """The members held whose upper bound reaches the reach now (approximate score at
        least the reach less the run's bound), as (rows, slots), rows ascending; none is held
        afterwards. Taken KEPT_MEMBERS at a time, for the temporaries' sake."""
        if not self.held:
            return np.empty(0, np.intp), np.empty(0, np.int64)
        group = self.group
        reached = reach.reached()
        query, number = np.concatenate([pairs for _, pairs, _ in self.held], axis=1)
        selected = np.concatenate([scores for _, _, scores in self.held])
        counts = [pairs.shape[1] for _, pairs, _ in self.held]
        runs_of = np.repeat([run for run, _, _ in self.held], counts)
        self.held, self.size = [], 0
        step = max(1, KEPT_MEMBERS // group)
        rows, slots = [], []
        for start in range(0, max(len(query), 1), step):
            part = slice(start, start + step)
            cut = (reached[query[part]] - self.bounds[runs_of[part], query[part]])[:, None]
            # One flat index a member (with a 2-D nonzero, 0.48 against 0.28 ms for 6,600
            # groups): group-major, so the group and the member are quotient and remainder.
            within, offsets = np.divmod(np.flatnonzero(selected[part] >= cut), group)
            within += start
            rows.append(query[within])
            slots.append(self.firsts[runs_of[within]] + number[within] * group + offsets)
        kept_rows, kept_slots = np.concatenate(rows), np.concatenate(slots)
        if len(self.q) > 1:
            order = np.argsort(kept_rows, kind="stable")
            kept_rows, kept_slots = kept_rows[order], kept_slots[order]
        # Not the last block's padding (kept, at -inf, when fewer than k templates exist).
        real = kept_slots < len(self.reranker.gallery)
        return kept_rows[real].astype(np.intp, copy=False), kept_slots[real]


def float32_up(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """`values` in float32, rounded up: the nearest float32, one step higher (two numpy calls
    where a test for which way it rounded took four; one step costs 6e-8 of a bound)."""
    return np.nextafter(values.astype(np.float32), np.float32(np.inf))


def float32_down(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """`values` in float32, rounded down: the nearest float32, one step lower."""
    return np.nextafter(values.astype(np.float32), np.float32(-np.inf))


def float32_bounds(
    q: npt.NDArray[np.float32],
    rows: Rows,
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
    rows: Rows, values: npt.NDArray[np.float64], queries: int, k: int
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
