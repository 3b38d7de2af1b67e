"""Travel documents at the gate: MRZ parsing and chip passive authentication.

    PYTHONPATH=.:tests/egate .venv/bin/python benchmarks/bench_documents.py

Measures (medians over repeats, warm-up discarded), one process, one after the other:
- MRZ: `parse_mrz` of the ICAO TD3 and TD1 specimens and `format_mrz` (µs), against
  PyPI `mrz`'s TD3CodeChecker on the same text (it validates digits and codes but
  builds no typed document; its country-name lookups make it do other work than ours);
- chip: `read_dg2` on a real photograph's DG2, and `verify_chip` (parse SOD, hash
  DG1+DG2, verify the DS signature and the CSCA's signature on the DS certificate)
  for RSA-2048 PKCS#1 v1.5, RSA-2048 PSS and ECDSA P-256 (ms); a chip read takes
  3-15 s at the gate (border-standards.md), so this is the budget to compare with.
Writes benchmarks/results/documents.json with the machine and library versions.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from chipbuilder import Scheme, build_chip, dg2, facial_record, make_csca, make_ds

from benchmarks.machine import cpu_model, results_path
from egate.chip import ChipData, read_dg2, verify_chip
from egate.csca import CscaStore
from egate.mrz import format_mrz, parse_mrz

REPO = Path(__file__).resolve().parent.parent
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)
PORTRAIT = REPO.parent / "shared" / "faces" / "people" / "obama" / "obama-480p.jpg"


def median_us(fn: Callable[[], object], repeats: int, inner: int = 1, warmup: int = 3) -> float:
    """Median over `repeats` of the mean time of `inner` calls, in microseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(times)


def mrz_bench() -> dict[str, float]:
    from mrz.checker.td3 import TD3CodeChecker  # type: ignore[import-untyped]  # the peer

    doc = parse_mrz(TD3)
    ours = median_us(lambda: parse_mrz(TD3), repeats=30, inner=200)
    peer = median_us(lambda: bool(TD3CodeChecker(TD3)), repeats=30, inner=200)
    return {
        "parse_td3_us": ours,
        "parse_td1_us": median_us(lambda: parse_mrz(TD1), repeats=30, inner=200),
        "format_td3_us": median_us(lambda: format_mrz(doc), repeats=30, inner=200),
        "peer_td3_checker_us": peer,
        "parse_ratio_to_peer": ours / peer,
    }


def chip_bench() -> dict[str, object]:
    photo = PORTRAIT.read_bytes() if PORTRAIT.is_file() else None
    width, height = 853, 480  # obama-480p.jpg
    results: dict[str, object] = {}
    if photo is not None:
        group = dg2([facial_record(photo, width, height)])
        results["read_dg2_us"] = median_us(lambda: read_dg2(group), repeats=30, inner=50)
        results["dg2_bytes"] = len(group)
    at = datetime(2026, 6, 15, tzinfo=UTC)
    for scheme in (Scheme.RSA_PKCS1V15, Scheme.RSA_PSS, Scheme.ECDSA):
        csca = make_csca(scheme)
        chip = build_chip(
            TD3, photo or b"\xff\xd8\xff" + bytes(20_000), width, height, make_ds(csca)
        )
        store = CscaStore([csca.cert])
        assert verify_chip(chip, None, store, at=at).ok

        def verify(chip: ChipData = chip, store: CscaStore = store) -> object:
            return verify_chip(chip, None, store, at=at)

        results[f"verify_chip_{scheme.value}_ms"] = median_us(verify, repeats=30, inner=5) / 1000
    return results


def main() -> None:
    results: dict[str, object] = {"mrz": mrz_bench(), "chip": chip_bench()}
    results["machine"] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "cryptography": version("cryptography"),
        "asn1crypto": version("asn1crypto"),
        "mrz (peer)": version("mrz"),
        "note": "2-core machine shared with other helpers' work",
    }
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = results_path("documents.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
