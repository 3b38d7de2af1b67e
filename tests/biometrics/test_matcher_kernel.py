"""The host's int8 product and the query codes it takes (kernel.host_query_range): full-range
codes where ONNX Runtime accumulates byte products in int32, narrow ones where it saturates
them in int16, checked on an emulated CPU without VNNI where qemu is installed."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biometrics.matcher.codes import NARROW, WIDE
from biometrics.matcher.kernel import host_query_range

# CPU features with which ONNX Runtime's uint8 x int8 kernel accumulates in int32 (vpdpbusd,
# AMX tiles); x86 CPUs without them take vpmaddubsw, which saturates pairs at int16.
INT32_PRODUCTS = {"avx512_vnni", "avx_vnni", "amx_int8"}

X86_LINUX = platform.system() == "Linux" and platform.machine() == "x86_64"
QEMU = shutil.which("qemu-x86_64")


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not X86_LINUX, reason="reads x86 CPU flags from /proc/cpuinfo")
def test_the_probe_matches_the_kernel_the_cpu_flags_select() -> None:
    flags = cpu_flags()
    expected = WIDE if flags & INT32_PRODUCTS else NARROW
    assert host_query_range() == expected, sorted(flags & (INT32_PRODUCTS | {"avx2"}))


# Run under an emulated CPU: a query equal to an enrolled template, searched with the codes
# the probe picks and with full-range codes forced, in each codes layout.
EMULATED_SEARCH = """
import json, os, sys
import numpy as np
from biometrics.matcher import Gallery, Searcher, search
from biometrics.matcher.codes import WIDE, CodesLayout
from biometrics.matcher.kernel import host_query_range

root, out = sys.argv[1], {"range": list(vars(host_query_range()).values())}
# Template "same" equals the query: its 64 pairs of byte products overflow int16 at full
# range (2 * 255 * 127). "half" has every other element 0, no pair overflows.
query = np.ones((1, 128), np.float32)
templates = np.stack([np.ones(128), np.tile([1.0, 0.0], 64)]).astype(np.float32)
for layout in ("columns", "rows"):
    gallery = Gallery.create(os.path.join(root, layout), codes_layout=CodesLayout(layout))
    gallery.add(["same", "half"], templates)
    for name, chosen in (("probed", host_query_range()), ("wide", WIDE)):
        search.host_query_range = lambda chosen=chosen: chosen
        with Searcher(gallery, threads=1) as searcher:
            hit = searcher.search(query, k=1)[0][0]
        out[f"{layout} {name}"] = [hit.id, hit.distance]
print(json.dumps(out))
"""


@pytest.mark.skipif(not (X86_LINUX and QEMU), reason="needs qemu-x86_64 (apt: qemu-user)")
def test_an_emulated_cpu_without_vnni_gets_narrow_codes_and_exact_hits(tmp_path: Path) -> None:
    assert QEMU is not None
    done = subprocess.run(
        [QEMU, "-cpu", "Haswell", sys.executable, "-c", EMULATED_SEARCH, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["range"] == [NARROW.code_max, NARROW.zero_point]
    for layout in ("columns", "rows"):
        # The probed (narrow) codes find the enrolled template at distance 0 ...
        assert result[f"{layout} probed"] == ["same", 0.0]
        # ... where full-range codes, saturated, rank it below the other: the hazard the
        # probe guards against.
        assert result[f"{layout} wide"][0] == "half"
