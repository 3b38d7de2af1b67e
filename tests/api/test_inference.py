"""The bounded, micro-batching pool with a real (CPU-bound, GIL-free) batch function."""

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from api.inference import InferencePool, Overloaded, PoolConfig
from api.metrics import Metrics


class Recorder:
    """Squares numbers with numpy, remembering each batch; `gate` holds the workers."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.gate.wait(5)
        self.batches.append(list(items))
        out: list[int | BaseException] = []
        for x in items:
            out.append(ValueError(f"negative {x}") if x < 0 else int(np.square(x)))
        return out


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_concurrent_items_share_batches() -> None:
    rec = Recorder()

    async def main() -> list[int]:
        pool = InferencePool(rec, PoolConfig(threads=1, max_pending=64, max_batch=8), Metrics())
        await pool.start()
        rec.gate.clear()  # the first batch blocks, the rest queue up behind it
        tasks = [asyncio.create_task(pool.submit(i)) for i in range(17)]
        await asyncio.sleep(0.05)
        rec.gate.set()
        results = await asyncio.gather(*tasks)
        await pool.stop()
        return results

    assert run(main()) == [i * i for i in range(17)]
    assert sorted(x for b in rec.batches for x in b) == list(range(17))
    assert max(len(b) for b in rec.batches) == 8
    assert len(rec.batches) < 17


def test_lower_priority_values_go_first_and_ties_keep_their_order() -> None:
    rec = Recorder()

    async def main() -> None:
        pool = InferencePool(rec, PoolConfig(threads=1, max_pending=64, max_batch=2), Metrics())
        await pool.start()
        rec.gate.clear()  # the first batch blocks, the rest queue up behind it
        first = asyncio.create_task(pool.submit(0, priority=1))
        await asyncio.sleep(0.01)
        queued = [(10, 1), (11, 1), (20, 0), (12, 1), (21, 0)]  # (item, priority)
        tasks = [asyncio.create_task(pool.submit(i, priority=p)) for i, p in queued]
        await asyncio.sleep(0.01)
        rec.gate.set()
        await asyncio.gather(first, *tasks)
        await pool.stop()

    run(main())
    assert rec.batches == [[0], [20, 21], [10, 11], [12]]


def test_per_item_errors_reach_only_their_caller() -> None:
    rec = Recorder()

    async def main() -> tuple[object, ...]:
        pool = InferencePool(rec, PoolConfig(threads=2), Metrics())
        await pool.start()
        out = await asyncio.gather(pool.submit(3), pool.submit(-1), return_exceptions=True)
        await pool.stop()
        return tuple(out)

    ok, err = run(main())  # type: ignore[misc]
    assert ok == 9
    assert isinstance(err, ValueError)
    assert str(err) == "negative -1"


def test_full_pool_refuses_at_once_and_counts_it() -> None:
    rec = Recorder()
    metrics = Metrics()

    async def main() -> None:
        pool = InferencePool(rec, PoolConfig(threads=1, max_pending=3, retry_after_s=2), metrics)
        await pool.start()
        rec.gate.clear()
        held = [asyncio.create_task(pool.submit(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        assert pool.pending == 3
        with pytest.raises(
            Overloaded, match=r"inference queue full \(3 captures pending\)"
        ) as info:
            await pool.submit(99)
        assert info.value.retry_after_s == 2
        with pytest.raises(Overloaded):
            await pool.submit_many([1])
        rec.gate.set()
        assert await asyncio.gather(*held) == [0, 1, 4]
        assert pool.pending == 0
        await pool.stop()

    run(main())
    text = metrics.render().decode()
    assert "egate_inference_rejected_total 2.0" in text
    assert "egate_inference_queue_depth 0.0" in text


def test_a_failing_batch_fails_every_item_in_it() -> None:
    def broken(items: Sequence[int]) -> list[int | BaseException]:
        raise RuntimeError("model crashed")

    async def main() -> list[object]:
        pool = InferencePool(broken, PoolConfig(), Metrics())
        await pool.start()
        out = await asyncio.gather(pool.submit(1), pool.submit(2), return_exceptions=True)
        await pool.stop()
        return list(out)

    out = run(main())
    assert [str(e) for e in out] == ["model crashed", "model crashed"]  # type: ignore[attr-defined]


def test_on_each_thread_runs_once_per_worker_thread() -> None:
    seen: list[str] = []

    async def main() -> None:
        pool = InferencePool(Recorder(), PoolConfig(threads=3), Metrics())
        await pool.start()
        await pool.on_each_thread(lambda: seen.append(threading.current_thread().name))
        await pool.stop()

    run(main())
    assert len(seen) == len(set(seen)) == 3
