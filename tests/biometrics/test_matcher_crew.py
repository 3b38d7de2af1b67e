"""The crew of threads a search shares its runs with."""

from __future__ import annotations

import threading
import time

import pytest

from biometrics.matcher.crew import Crew


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
