"""One-query searches while another process holds nearly all free memory: a gallery locked in
RAM (`Gallery.lock_memory`, the service's EGATE_GALLERY_LOCK_MEMORY) against one that is not.

Two float16 galleries of `--templates` random unit vectors (d = 128) are built in one process;
the second is locked. Each round a child process takes all but `--leave-mib` of the memory the
kernel calls available (MemAvailable) and holds it, so the kernel reclaims page cache, mapped
files included; then each gallery answers two one-query searches (the order alternates between
rounds). Prints the hot medians and, per round, each search's time and the major page faults
(pages read back from disk) it took, and writes benchmarks/results/matcher_memlock.json. With
300 MiB left of a 23 GiB VM's, the kernel kept most of the unlocked 1M gallery in two rounds of
three; with 100 it evicted some of it in every round.

The child asks the kernel to kill it first (oom_score_adj 1000) should memory run out.

    .venv/bin/python benchmarks/bench_matcher_memlock.py --templates 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_matcher import build_gallery, unit_vectors
from benchmarks.machine import cpu_model, results_path
from biometrics.matcher import GalleryDtype, Searcher
from biometrics.matcher.codes import preferred_layout

# Takes argv[1] bytes of anonymous memory, says so, and holds them until its stdin has a line.
_HOLDER = """
import sys
import numpy as np
with open("/proc/self/oom_score_adj", "w") as f:
    f.write("1000")
held = np.ones(int(sys.argv[1]) // 8)
print("held", flush=True)
sys.stdin.readline()
"""


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def timed_search(searcher: Searcher, query: np.ndarray) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    start = time.perf_counter()
    searcher.search(query, k=10)
    ms = (time.perf_counter() - start) * 1e3
    return {
        "ms": round(ms, 1),
        "major_faults": resource.getrusage(resource.RUSAGE_SELF).ru_majflt - before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--templates", type=int, default=1_000_000, help="in each gallery")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--leave-mib", type=float, default=100.0, help="available memory the holder leaves"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where the galleries are made")
    parser.add_argument("--out", type=Path, default=results_path("matcher_memlock.json"))
    args = parser.parse_args(argv)
    if args.templates < 10 or args.rounds < 1 or args.leave_mib < 0:
        parser.error("--templates at least 10, --rounds at least 1, --leave-mib at least 0")

    queries = unit_vectors(np.random.default_rng(9), 64)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        layout = preferred_layout()
        plain = build_gallery(
            Path(tmp) / "unlocked", args.templates, 1, layout, GalleryDtype.FLOAT16
        )
        locked = build_gallery(
            Path(tmp) / "locked", args.templates, 2, layout, GalleryDtype.FLOAT16
        )
        locked_bytes = locked.lock_memory()
        searchers = {"unlocked": Searcher(plain, threads=2), "locked": Searcher(locked, threads=2)}
        hot: dict[str, float] = {}
        for name, searcher in searchers.items():
            for i in range(20):
                timed_search(searcher, queries[i % 64][None])
            hot[name] = float(
                np.median([timed_search(searcher, queries[i % 64][None])["ms"] for i in range(40)])
            )
        print(f"hot medians: unlocked {hot['unlocked']:.2f} ms, locked {hot['locked']:.2f} ms")
        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            held = max(0, available_bytes() - int(args.leave_mib * 2**20))
            holder = subprocess.Popen(
                [sys.executable, "-c", _HOLDER, str(held)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdin is not None
            assert holder.stdout is not None
            if holder.stdout.readline().strip() != "held":
                raise RuntimeError(f"the memory holder failed (exit {holder.wait()})")
            names = ["unlocked", "locked"] if r % 2 == 0 else ["locked", "unlocked"]
            row: dict[str, Any] = {"held_gib": round(held / 2**30, 2)}
            for name in names:
                row[name] = [
                    timed_search(searchers[name], queries[r + i * 32][None]) for i in (0, 1)
                ]
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait()
            rounds.append(row)
            print(
                f"round {r + 1}, {row['held_gib']} GiB held: "
                + "; ".join(
                    f"{name} {row[name][0]['ms']} ms ({row[name][0]['major_faults']} major faults),"
                    f" then {row[name][1]['ms']} ms ({row[name][1]['major_faults']})"
                    for name in names
                ),
                flush=True,
            )
            time.sleep(2)
            for searcher in searchers.values():  # hot again before the next round
                for i in range(10):
                    timed_search(searcher, queries[i][None])
        for searcher in searchers.values():
            searcher.close()
        plain.close()
        locked.close()
    result = {
        "benchmark": "one-query search under memory pressure, gallery locked or not",
        "cpu": cpu_model(),
        "templates": args.templates,
        "dtype": "float16",
        "locked_bytes": locked_bytes,
        "leave_mib": args.leave_mib,
        "hot_median_ms": hot,
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
