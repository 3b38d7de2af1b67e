"""Where a benchmark ran: the processor every results file names beside its numbers."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The processor's model name (Linux /proc/cpuinfo) with its family and model numbers,
    else what `platform` knows. A virtual machine may name only the maker's line ("AMD EPYC"),
    which two hosts of different generations share: the numbers tell them apart."""
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        if "model name" in fields:
            numbers = [f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields]
            return (
                f"{fields['model name']} ({', '.join(numbers)})"
                if numbers
                else fields["model name"]
            )
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


# A directory for the results files in place of benchmarks/results (run_all.py --quick sets it).
RESULTS_ENV = "EGATE_BENCH_RESULTS"


# The measured results the README quotes.
MEASURED = Path(__file__).resolve().parent / "results"


def results_dir() -> Path:
    """The folder benchmarks write their results files into: benchmarks/results, or the one
    named by EGATE_BENCH_RESULTS, which `run_all.py --quick` points at benchmarks/results/quick
    so that a smoke run leaves the measured files alone. Made if missing."""
    folder = Path(os.environ.get(RESULTS_ENV) or MEASURED)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def results_path(name: str) -> Path:
    """Where a benchmark writes its results file `name` (see `results_dir`)."""
    return results_dir() / name
