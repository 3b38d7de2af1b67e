"""Run the benchmark suites one after the other (each in its own process, so one
suite's memory and threads do not colour the next) and list the JSON they wrote.

    ./dev bench                 # every suite at the sizes the README quotes (long: ~40 min)
    ./dev bench --quick         # small sizes, a few minutes: checks the scripts still run
    ./dev bench embedding sim   # some suites only

Each suite writes benchmarks/results/<name>.json with the machine and library versions;
with --quick, benchmarks/results/quick/<name>.json, leaving the measured files alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from anywhere

from benchmarks.machine import MEASURED, RESULTS_ENV, results_dir  # noqa: E402

# name -> (script, full-size arguments, quick arguments)
SUITES: dict[str, tuple[str, list[str], list[str]]] = {
    "embedding": ("bench_embedding.py", [], ["--rounds", "2"]),
    "verify_e2e": ("bench_verify_e2e.py", [], ["--quick"]),
    "matcher": ("bench_matcher.py", [], ["--sizes", "100000", "--accuracy-queries", "256"]),
    "matcher_copies": (
        "bench_matcher_copies.py",
        ["--copies", "1000000"],
        ["--copies", "20000", "--batch", "8"],
    ),
    "matcher_memlock": (
        "bench_matcher_memlock.py",
        [],
        ["--templates", "100000", "--rounds", "1"],
    ),
    "documents": ("bench_documents.py", [], []),
    "apis": ("bench_apis.py", [], ["--sltd-rows", "100000", "--persons", "10000"]),
    "store": ("bench_store.py", [], ["--rows", "100000", "--repeats", "20"]),
    "sim": ("bench_sim.py", [], ["--quick"]),
    "load_gates": ("load_gates.py", [], ["--gates", "1", "4", "--seconds", "10"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("suites", nargs="*", help=f"some of {', '.join(SUITES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    unknown = sorted(set(args.suites) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    # The repository root, and tests/egate for the chip builder the documents suite uses.
    path = os.pathsep.join([str(HERE.parent), str(HERE.parent / "tests" / "egate")])
    if args.quick and not os.environ.get(RESULTS_ENV):
        # A smoke run's small sizes would overwrite the measured files the README quotes.
        os.environ[RESULTS_ENV] = str(MEASURED / "quick")
    results = results_dir()
    env = {**os.environ, "PYTHONPATH": path}
    failed = []
    for name in args.suites or list(SUITES):
        script, full, quick = SUITES[name]
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        start = time.monotonic()
        if subprocess.run(command, env=env, cwd=HERE.parent).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.monotonic() - start:.0f} s", flush=True)
    print(f"results in {results}:", *sorted(p.name for p in results.glob("*.json")))
    if failed:
        print("failed:", *failed, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
