"""Advance passenger information and watchlists at scale.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_apis.py          # 2M SLTD rows, 100k persons
    PYTHONPATH=. .venv/bin/python benchmarks/bench_apis.py --sltd-rows 200000   # a quick run

Measures (medians over repeats, warm-up discarded):
- SLTD: load N rows from CSV (s, and resident memory added), then the cost of one
  lookup at N rows against the same at 10k rows (flat = O(1));
- persons: one fuzzy search over P entries (ms);
- PAXLST: parse and write a 400-traveller manifest (ms), against pydifact's
  own parser splitting the same text into segments (the syntax layer alone);
- APP: one `check_traveller` against both lists (ms).
Writes benchmarks/results/apis.json with the machine and library versions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
from pydifact.parser import Parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.machine import cpu_model, results_path
from egate.app import AppRules, check_traveller
from egate.documents import Sex
from egate.manifest import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestTraveller,
    TravellerRole,
)
from egate.paxlst import parse_paxlst, write_paxlst
from egate.watchlist import DocumentWatchlist, PersonEntry, PersonWatchlist

REPO = Path(__file__).resolve().parent.parent
ISSUERS = ["UTO", "D<<", "FRA", "GBR", "USA", "JPN", "NLD", "TWN", "ITA", "ESP"]
SYLLABLES = ["AN", "BER", "CO", "DI", "EL", "FA", "GO", "HA", "IN", "JO", "KA", "LU", "MA", "NO"]


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def rss_mib() -> float:
    # ru_maxrss is in KiB on Linux: the peak, which only grows while we build.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def name(rng: np.random.Generator, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES, parts))


def sltd_bench(rows: int, rng: np.random.Generator) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sltd.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["issuer", "number", "status"])
            issuers = rng.integers(0, len(ISSUERS), rows)
            for i in range(rows):
                writer.writerow([ISSUERS[issuers[i]], f"{i:09d}", "stolen" if i % 4 else "lost"])
        before = rss_mib()
        sltd = DocumentWatchlist()
        start = time.perf_counter()
        sltd.load_csv(path)
        load_s = time.perf_counter() - start
        added = rss_mib() - before
    small = DocumentWatchlist()
    for i in range(10_000):
        small.add(ISSUERS[i % len(ISSUERS)], f"{i:09d}")
    queries = [
        (ISSUERS[i % len(ISSUERS)], f"{rng.integers(0, rows * 2):09d}") for i in range(20_000)
    ]

    def lookups(watch: DocumentWatchlist) -> Callable[[], object]:
        return lambda: [watch.hit(i, n) for i, n in queries]

    large_us = median_ms(lookups(sltd), 7) * 1000 / len(queries)
    small_us = median_ms(lookups(small), 7) * 1000 / len(queries)
    return {
        "rows": rows,
        "load_s": load_s,
        "load_rows_per_s": rows / load_s,
        "peak_rss_added_mib": added,
        "bytes_per_row": added * 2**20 / rows,
        "lookup_us_large": large_us,
        "lookup_us_10k": small_us,
        "lookup_ratio_large_to_10k": large_us / small_us,
    }


def persons_list(count: int, rng: np.random.Generator) -> PersonWatchlist:
    entries = (
        PersonEntry(
            f"P{i}",
            name(rng, 3),
            name(rng, 2),
            birth_date=date(1940 + int(rng.integers(0, 60)), 1 + int(rng.integers(0, 12)), 1),
        )
        for i in range(count)
    )
    return PersonWatchlist(entries)


def manifest(travellers: int, rng: np.random.Generator) -> Manifest:
    return Manifest(
        flight="BA117",
        carrier="BA",
        departure_airport="JFK",
        arrival_airport="LHR",
        departure_time=datetime(2026, 11, 21, 18, 0),
        arrival_time=datetime(2026, 11, 22, 6, 5),
        travellers=tuple(
            ManifestTraveller(
                role=TravellerRole.PASSENGER,
                surname=name(rng, 3),
                given_names=name(rng, 2),
                sex=Sex.FEMALE if i % 2 else Sex.MALE,
                birth_date=date(1950 + i % 60, 1 + i % 12, 1 + i % 28),
                nationality=ISSUERS[i % len(ISSUERS)],
                documents=(
                    ManifestDocument(
                        DocumentCode.PASSPORT, f"{i:09d}", ISSUERS[i % 10], date(2030, 1, 1)
                    ),
                ),
                embarkation="JFK",
                debarkation="LHR",
                pnr=f"PNR{i:03d}",
            )
            for i in range(travellers)
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sltd-rows", type=int, default=2_000_000)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--travellers", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(20261121)
    results: dict[str, object] = {}

    results["sltd"] = sltd_bench(args.sltd_rows, rng)
    print("sltd", results["sltd"], flush=True)

    persons = persons_list(args.persons, rng)
    probe = persons._entries[args.persons // 2]
    search_ms = median_ms(
        lambda: persons.search(probe.surname, probe.given_names, probe.birth_date), 15
    )
    miss_ms = median_ms(lambda: persons.search("NAKAMURA", "YUKI", date(1980, 1, 1)), 15)
    results["persons"] = {
        "entries": args.persons,
        "search_hit_ms": search_ms,
        "search_miss_ms": miss_ms,
    }
    print("persons", results["persons"], flush=True)

    m = manifest(args.travellers, rng)
    text = write_paxlst(m)[0]
    assert parse_paxlst(text) == m
    parse_ms = median_ms(lambda: parse_paxlst(text), 15)
    pydifact_ms = median_ms(lambda: list(Parser().parse(text)), 15)
    write_ms = median_ms(lambda: write_paxlst(m), 15)
    results["paxlst"] = {
        "travellers": args.travellers,
        "bytes": len(text),
        "parse_ms": parse_ms,
        "pydifact_segments_only_ms": pydifact_ms,
        "parse_ratio_to_pydifact": parse_ms / pydifact_ms,
        "write_ms": write_ms,
    }
    print("paxlst", results["paxlst"], flush=True)

    sltd = DocumentWatchlist()
    for i in range(args.sltd_rows // 2):
        sltd.add(ISSUERS[i % 10], f"{i:09d}")
    rules = AppRules(state="GBR", visa_nationalities=frozenset({"UTO"}), min_validity_days=90)
    traveller = m.travellers[7]
    app_ms = median_ms(
        lambda: check_traveller(
            traveller, sltd=sltd, persons=persons, rules=rules, today=date(2026, 11, 21)
        ),
        15,
    )
    results["app"] = {"check_traveller_ms": app_ms, "sltd_rows": len(sltd), "persons": len(persons)}
    print("app", results["app"], flush=True)

    results["machine"] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "pydifact": version("pydifact"),
        "rapidfuzz": version("rapidfuzz"),
        "note": "2-core machine shared with other helpers' work",
    }
    results["peak_rss_mib"] = rss_mib()
    out = results_path("apis.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}; peak RSS {results['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
