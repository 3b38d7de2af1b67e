"""The crew of threads a search shares its runs with, and how a one-query scan is shared."""

from __future__ import annotations

import threading
import time

import pytest

from biometrics.matcher.crew import Balance, Crew, Finished, Round


def test_an_error_on_a_worker_thread_reaches_the_caller_after_every_worker_returned() -> None:
    crew = Crew(2)
    finished = []

    def task() -> None:
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.05)
            finished.append(threading.current_thread())
            raise ValueError("from a worker")

    with pytest.raises(ValueError, match="from a worker"):
        crew.run(task, 2)
    assert len(finished) == 2
    crew.run(lambda: None, 2)  # the crew still works after an error
    crew.close()


def test_a_round_reports_what_each_thread_did_and_when_it_finished() -> None:
    crew = Crew(2)

    def task() -> int:
        if threading.current_thread() is threading.main_thread():
            return 1
        time.sleep(0.02)
        return 2

    scan = crew.run(task, 2)
    crew.close()
    assert scan.caller.work == 1
    assert [share.work for share in scan.helpers] == [2, 2]
    assert scan.start <= scan.caller.at <= scan.end
    for share in scan.helpers:
        assert scan.start + 0.02 <= share.at <= scan.end


# One query against 100k templates in blocks of 16,384: the calling thread's first run holds
# 1-6 full blocks, the helper's the rest and the partly filled last one; the even split is 2.
SHARES = [
    (16384, 83616),
    (32768, 67232),
    (49152, 50848),
    (65536, 34464),
    (81920, 18080),
    (98304, 1696),
]
EVEN = 2


def scan(caller: tuple[float, int], helper: tuple[float, int], end: float) -> Round:
    """A one-query scan that started at 0 s: the caller's and the helper's (finish, templates)."""
    return Round(0.0, Finished(*caller), [Finished(*helper)], end)


def test_a_balance_that_has_learnt_nothing_keeps_the_even_split() -> None:
    assert Balance().choose(SHARES, EVEN) == EVEN


def test_a_helper_that_finishes_late_gives_the_caller_a_larger_share() -> None:
    """8 ns a template each; the helper finished an equal share 200 us after the caller and
    the caller woke 80 us after that: the caller should take 65,536 (524 us) against the
    helper's 34,464 (200 + 276 + 80 us), not 49,152 (393 against 687)."""
    balance = Balance()
    for _ in range(3):
        balance.observe(scan((400e-6, 50000), (600e-6, 50000), 680e-6))
    assert balance.choose(SHARES, EVEN) == 3


def test_the_callers_wake_after_a_late_helper_counts_too() -> None:
    """A 60 us delay alone keeps the even split (above); with the caller waking 80 us after
    the helper's result, 65,536 (524 us) beats 49,152 against 60 + 407 + 80 us."""
    balance = Balance()
    balance.observe(scan((400e-6, 50000), (460e-6, 50000), 540e-6))
    assert balance.choose(SHARES, EVEN) == 3


def test_a_helper_that_keeps_pace_keeps_the_even_split() -> None:
    """Both finish an equal share together: 49,152 against 50,848 (407 us) beats 65,536
    against 34,464 (524 us)."""
    balance = Balance()
    for _ in range(3):
        balance.observe(scan((400e-6, 50000), (400e-6, 50000), 400e-6))
    assert balance.choose(SHARES, EVEN) == EVEN


def test_a_helper_that_waits_for_nothing_learns_from_its_start_alone() -> None:
    """The caller took every run before the helper woke: the helper's delay is its wake-up
    (60 us: 49,152 against 60 + 407 us beats 524 against 60 + 276; 300 us: 65,536 against
    300 + 276 beats both 49,152 and 81,920)."""
    balance = Balance()
    balance.observe(scan((800e-6, 100000), (60e-6, 0), 800e-6))
    assert balance.choose(SHARES, EVEN) == EVEN
    balance = Balance()
    balance.observe(scan((800e-6, 100000), (300e-6, 0), 800e-6))
    assert balance.choose(SHARES, EVEN) == 3


def test_the_medians_shrug_off_a_search_the_host_descheduled() -> None:
    balance = Balance()
    for _ in range(5):
        balance.observe(scan((400e-6, 50000), (400e-6, 50000), 400e-6))
    balance.observe(scan((400e-6, 50000), (5.4e-3, 50000), 5.5e-3))
    assert balance.choose(SHARES, EVEN) == EVEN
