"""The threads that scan a gallery beside the calling thread (see search.Searcher), and how a
one-query scan shares the gallery among them.

A one-query search of a gallery of at most one run a thread (100k templates on 2 threads) gives
each thread one ONNX run. The calling thread starts its run at once; a helper starts only once
it is woken and holds the GIL, which the caller keeps until ONNX Runtime has taken its run's
inputs. On a 2-core Xeon (model 167) the wake-up alone took 5-10 us, but the helper's run
started ~100 us after the caller's, a quarter of a run over 50k templates, and with equal
shares the caller then finished first and slept until the helper's result woke it, ~80 us more.
`Balance` learns both delays from the searches themselves and gives the caller a larger share,
so that it is still busy when the last helper's result arrives.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

# Searches a `Balance` learns from: the medians of the last few shrug off the odd search that a
# VM's host descheduled for milliseconds.
BALANCE_SAMPLES = 9


class Finished(NamedTuple):
    """One thread's share of a `Crew.run`: when its call returned (`time.perf_counter`
    seconds) and what it returned, the work it did (a search: templates scanned)."""

    at: float
    work: int


class Round(NamedTuple):
    """A `Crew.run`: when it was called, each thread's share (the calling thread's first) and
    when it returned, all in `time.perf_counter` seconds."""

    start: float
    caller: Finished
    helpers: list[Finished]
    end: float


class Balance:
    """How much of a one-query scan the calling thread takes, learnt from the scans so far.

    Each scan in which the calling thread and its helpers had one run each tells, per template,
    how long the caller took (the pace, with the other threads scanning too), how much later
    than the caller the last helper would have finished an equal share (its delay: the
    time it took to start, to wake and take the GIL, and any slower pace), and, when the
    caller finished first, how long after the helper's result it woke (its wake). `choose`
    then picks the share whose caller finishes just as the last helper's result arrives. A
    wake is only seen when the caller finishes first, so once the caller's share keeps it last
    the wake learnt before stands until a helper is late again.
    """

    def __init__(self) -> None:
        self.scans = 0  # scans learnt from
        self._paces: deque[float] = deque(maxlen=BALANCE_SAMPLES)
        self._delays: deque[float] = deque(maxlen=BALANCE_SAMPLES)
        self._wakes: deque[float] = deque(maxlen=BALANCE_SAMPLES)

    def observe(self, scan: Round) -> None:
        """Learns from a scan (a `Crew.run` whose threads returned the templates they
        scanned)."""
        if not scan.helpers or scan.caller.work < 1:
            return
        last = max(scan.helpers)
        caller, helper = scan.caller.at - scan.start, last.at - scan.start
        pace = caller / scan.caller.work
        self.scans += 1
        self._paces.append(pace)
        self._delays.append(helper - caller - (last.work - scan.caller.work) * pace)
        if last.at > scan.caller.at:
            self._wakes.append(scan.end - last.at)

    def choose(self, shares: Sequence[tuple[int, int]], even: int) -> int:
        """The index of the share, of (the caller's templates, the largest helper's templates)
        each, predicted to finish first: the caller's time against the helper's delay, its
        time and the caller's wake after it. `even` before anything was learnt."""
        if not self._paces:
            return even
        pace = statistics.median(self._paces)
        delay = statistics.median(self._delays)
        wake = statistics.median(self._wakes) if self._wakes else 0.0

        def finish(share: tuple[int, int]) -> float:
            caller, helper = share
            return max(caller * pace, delay + helper * pace + wake)

        return min(range(len(shares)), key=lambda i: (finish(shares[i]), i != even))


class Crew:
    """Worker threads for a searcher's runs: `run` hands a task to some of them and runs it on
    the calling thread too, then waits for theirs.

    In place of a ThreadPoolExecutor, whose submit (a future, a work item, a queue with its
    condition, a check for idle threads) and future.result() cost more than the hand-over
    itself. In-process A/Bs over 100k templates on a 2-core Xeon (model 207), time with this
    crew over time with the executor: one query 0.966-0.972 (float16, three runs), 0.973
    (float32), 0.996 (float16, ROWS); B = 64 0.975-1.022; B = 1,024 0.970. The threads hold only
    the queues, so a crew dropped without `close` still stops them (weakref.finalize).
    """

    def __init__(self, size: int) -> None:
        self._inbox: queue.SimpleQueue[Callable[[], int] | None] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[BaseException | Finished] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(
                target=_member,
                args=(self._inbox, self._outbox),
                name=f"egate-search-{i}",
                daemon=True,
            )
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()
        self._stop = weakref.finalize(self, _stop, self._inbox, size)

    def run(self, task: Callable[[], int], helpers: int) -> Round:
        """task() on `helpers` (<= size) crew threads and on this one; returns once every call
        returned, with when each returned and what (the work it did), or raises the first
        error any of them raised."""
        start = time.perf_counter()
        for _ in range(helpers):
            self._inbox.put(task)
        try:
            work = task()
            caller = Finished(time.perf_counter(), work)
        finally:
            shares = [self._outbox.get() for _ in range(helpers)]
        end = time.perf_counter()
        done = []
        for share in shares:
            if isinstance(share, BaseException):
                raise share
            done.append(share)
        return Round(start, caller, done, end)

    def close(self) -> None:
        """Stop the threads and wait for them."""
        self._stop()
        for thread in self._threads:
            thread.join()


def _member(
    inbox: queue.SimpleQueue[Callable[[], int] | None],
    outbox: queue.SimpleQueue[BaseException | Finished],
) -> None:
    """A crew thread: runs tasks until it is handed None, reporting each one's error or
    `Finished`. A finished task is let go before the thread waits again: it holds the
    searcher."""
    while (task := inbox.get()) is not None:
        try:
            work = task()
        except BaseException as error:
            outbox.put(error)
        else:
            outbox.put(Finished(time.perf_counter(), work))
        task = None


def _stop(inbox: queue.SimpleQueue[Callable[[], int] | None], size: int) -> None:
    for _ in range(size):
        inbox.put(None)
