"""Where a benchmark ran: the processor every results file names beside its numbers."""

from __future__ import annotations

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
