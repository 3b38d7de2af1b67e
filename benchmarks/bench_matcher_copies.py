"""1:N search over a gallery of near-duplicates: time and peak memory.

Every copy of a template lies within the scan's error bound of the others, so the search must
keep all of them and re-rank them exactly: the worst case for its memory. The gallery holds
`--copies` identical unit vectors (d = 128, float32); `--batch` queries lie 0.01 from them.
The k nearest must be the first k slots (ties go to the lower slot). Prints the search's
time, the peak RSS of the process before and after the search, and whether the result is right,
and writes them to benchmarks/results/matcher_copies.json.

    .venv/bin/python benchmarks/bench_matcher_copies.py --copies 1000000 --batch 64
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import cpu_model, results_path
from biometrics.matcher import Gallery, Searcher


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=200_000, help="identical templates")
    parser.add_argument("--batch", type=int, default=64, help="queries searched at once")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=None, help="where the gallery is made")
    parser.add_argument("--out", type=Path, default=results_path("matcher_copies.json"))
    args = parser.parse_args(argv)
    if args.copies < args.k or args.batch < 1:
        parser.error("--copies must be at least --k, --batch at least 1")

    rng = np.random.default_rng(0)
    twin = rng.normal(size=(1, 128)).astype(np.float32)
    twin /= np.linalg.norm(twin)
    queries = twin + rng.normal(scale=0.01, size=(args.batch, 128)).astype(np.float32)
    with (
        tempfile.TemporaryDirectory(dir=args.workdir) as tmp,
        Gallery.create(Path(tmp) / "copies") as gallery,
    ):
        step = 100_000
        for start in range(0, args.copies, step):
            count = min(step, args.copies - start)
            gallery.add([f"t{i}" for i in range(start, start + count)], np.repeat(twin, count, 0))
            print(f"\rgallery: {start + count:,} / {args.copies:,}", end="", file=sys.stderr)
        print(file=sys.stderr)
        before = _peak_rss_gib()
        with Searcher(gallery) as searcher:
            started = time.perf_counter()
            hits = searcher.search(queries, k=args.k)
            seconds = time.perf_counter() - started
    expected = [f"t{i}" for i in range(args.k)]
    result = {
        "benchmark": "matcher search over identical templates",
        "cpu": cpu_model(),
        "copies": args.copies,
        "batch": args.batch,
        "k": args.k,
        "search_s": round(seconds, 2),
        "peak_rss_gib_before_search": round(before, 2),
        "peak_rss_gib": round(_peak_rss_gib(), 2),
        "first_k_slots": all([h.id for h in row] == expected for row in hits),
    }
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["first_k_slots"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
