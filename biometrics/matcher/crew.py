"""The threads that scan a gallery beside the calling thread (see search.Searcher)."""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable


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
        self._inbox: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
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

    def run(self, task: Callable[[], None], helpers: int) -> None:
        """task() on `helpers` (<= size) crew threads and on this one; returns once every call
        returned, raising the first error any of them raised."""
        for _ in range(helpers):
            self._inbox.put(task)
        try:
            task()
        finally:
            errors = [self._outbox.get() for _ in range(helpers)]
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        """Stop the threads and wait for them."""
        self._stop()
        for thread in self._threads:
            thread.join()


def _member(
    inbox: queue.SimpleQueue[Callable[[], None] | None],
    outbox: queue.SimpleQueue[BaseException | None],
) -> None:
    """A crew thread: runs tasks until it is handed None, reporting each one's error or None.
    A finished task is let go before the thread waits again: it holds the searcher."""
    while (task := inbox.get()) is not None:
        try:
            task()
        except BaseException as error:
            outbox.put(error)
        else:
            outbox.put(None)
        task = None


def _stop(inbox: queue.SimpleQueue[Callable[[], None] | None], size: int) -> None:
    for _ in range(size):
        inbox.put(None)
