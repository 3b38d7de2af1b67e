"""DET curve, EER and threshold-for-FMR on large score sets (biometrics.evaluation).

    .venv/bin/python benchmarks/bench_evaluation.py [--sizes 10000 100000 1000000] [--repeats 5]

For each size n (genuine = impostor = n scores, normal distances as dlib gives: genuine
mean 0.35, impostor 0.85, sd 0.1) it times, median of `repeats` runs after one warm-up:
det_curve (every distinct score as a threshold: 2n exact operating points),
equal_error_rate, threshold_for_fmr(1e-3) and error_rates(0.6); and, one after the other in
this process, the usual hand-written peer: FMR/FNMR on a 1,000-threshold grid by counting
each threshold (`np.count_nonzero(scores <= t)` in a loop) — 1,000 approximate points
against our 2n exact ones. Writes benchmarks/results/evaluation.json with the machine and
library versions. Peak RSS is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.machine import cpu_model, results_path  # noqa: E402
from biometrics.evaluation import (  # noqa: E402
    det_curve,
    equal_error_rate,
    error_rates,
    threshold_for_fmr,
)


def machine() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
    }


def median_s(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def grid_peer(genuine: np.ndarray, impostor: np.ndarray, points: int = 1000) -> np.ndarray:
    grid = np.linspace(
        min(genuine.min(), impostor.min()), max(genuine.max(), impostor.max()), points
    )
    out = np.empty((points, 2))
    for k, t in enumerate(grid):
        out[k] = (
            np.count_nonzero(impostor <= t) / impostor.size,
            np.count_nonzero(genuine > t) / genuine.size,
        )
    return out


def measure(genuine: np.ndarray, impostor: np.ndarray, repeats: int) -> dict[str, object]:
    """Median seconds of each call on these score sets."""
    n = genuine.size
    row: dict[str, object] = {"n_genuine": n, "n_impostor": n}
    row["det_curve_s"] = median_s(lambda: det_curve(genuine, impostor), repeats)
    row["equal_error_rate_s"] = median_s(lambda: equal_error_rate(genuine, impostor), repeats)
    row["threshold_for_fmr_s"] = median_s(
        lambda: threshold_for_fmr(genuine, impostor, 1e-3), repeats
    )
    row["error_rates_s"] = median_s(lambda: error_rates(genuine, impostor, 0.6), repeats)
    row["peer_grid_1000_s"] = median_s(lambda: grid_peer(genuine, impostor), repeats)
    row["ratio_peer_over_det_curve"] = row["peer_grid_1000_s"] / row["det_curve_s"]  # type: ignore[operator]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        genuine, impostor = rng.normal(0.35, 0.1, n), rng.normal(0.85, 0.1, n)
        row = measure(genuine, impostor, args.repeats)
        eer, at = equal_error_rate(genuine, impostor)
        row["eer"], row["eer_threshold"] = eer, at
        rows.append(row)
        print(
            f"n={n:>9}: det_curve {row['det_curve_s'] * 1e3:8.1f} ms ({2 * n} exact points)  "  # type: ignore[operator]
            f"EER {row['equal_error_rate_s'] * 1e3:8.1f} ms  "  # type: ignore[operator]
            f"thr@FMR {row['threshold_for_fmr_s'] * 1e3:7.1f} ms  "  # type: ignore[operator]
            f"peer 1000-point grid {row['peer_grid_1000_s'] * 1e3:8.1f} ms  "  # type: ignore[operator]
            f"peer/ours {row['ratio_peer_over_det_curve']:.2f}x   EER {eer:.4%} at {at:.4f}"
        )
    result = {
        "benchmark": "evaluation",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "repeats": args.repeats,
        "statistic": "median",
        "rows": rows,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out = results_path("evaluation.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"peak RSS {result['peak_rss_mib']:.0f} MiB -> {out}")


if __name__ == "__main__":
    main()
