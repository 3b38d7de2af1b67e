"""ONNX Runtime loaded once per process with its int8 products off AMX unless asked
(biometrics.runtime). The choice is the process's, so each case runs in a new interpreter."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biometrics import runtime
from biometrics.matcher.codes import CodesLayout, preferred_layout

REPO = Path(__file__).resolve().parents[2]
X86_LINUX = platform.system() == "Linux" and platform.machine() == "x86_64"


AMX_CPU = runtime.cpu_has_amx()
needs_amx = pytest.mark.skipif(not AMX_CPU, reason="this CPU has no AMX (amx_int8, amx_tile)")

# What Linux itself says of the process: may it use AMX tile data (XTILEDATA, bit 18)?
KERNEL_PERMITS_AMX = """
def kernel_permits_amx():
    import ctypes
    mask = ctypes.c_uint64(0)
    ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(mask))  # ARCH_GET_XCOMP_PERM
    return bool(mask.value >> 18 & 1)
"""


def python(code: str, *args: str, amx_variable: str | None = None) -> dict[str, Any]:
    """Runs `code` in a new interpreter (EGATE_ONNX_AMX set to `amx_variable`, or unset);
    the JSON object it prints last, with the log."""
    env = {k: v for k, v in os.environ.items() if k != runtime.AMX_VARIABLE}
    if amx_variable is not None:
        env[runtime.AMX_VARIABLE] = amx_variable
    done = subprocess.run(
        [sys.executable, "-c", KERNEL_PERMITS_AMX + code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["log"] = done.stderr
    return result


@needs_amx
def test_a_plain_import_hands_the_int8_products_to_amx() -> None:
    # The hazard the loader exists for: onnxruntime asks for AMX as it loads.
    done = python("import json, onnxruntime; print(json.dumps({'kernel': kernel_permits_amx()}))")
    assert done["kernel"] is True


@needs_amx
@pytest.mark.parametrize(
    ("first_load", "variable", "expected"),
    [
        # The default: int8 products on VNNI, galleries in columns.
        ("runtime.onnxruntime()", None, [False, False, "columns"]),
        ("runtime.onnxruntime()", "false", [False, False, "columns"]),
        # Allowed: on AMX tiles, where rows pay for one-query searches.
        ("runtime.load(amx=True)", None, [True, True, "rows"]),
        ("runtime.onnxruntime()", "true", [True, True, "rows"]),
        # An explicit choice outranks the environment (the service applies its settings so).
        ("runtime.load(amx=False)", "true", [False, False, "columns"]),
    ],
)
def test_the_first_load_decides_amx_and_the_layout(
    first_load: str, variable: str | None, expected: list[object]
) -> None:
    done = python(
        "import json\n"
        "from biometrics import runtime\n"
        "from biometrics.matcher.codes import preferred_layout\n"
        f"{first_load}\n"
        "print(json.dumps({'got': [runtime.int8_uses_amx(), kernel_permits_amx(),"
        " preferred_layout().value]}))",
        amx_variable=variable,
    )
    assert done["got"] == expected


@needs_amx
def test_a_choice_made_too_late_is_logged_and_changes_nothing() -> None:
    done = python(
        "import json, onnxruntime\n"
        "from biometrics import runtime\n"
        "runtime.load(amx=False)\n"
        "runtime.load(amx=False)\n"
        "print(json.dumps({'uses': runtime.int8_uses_amx()}))"
    )
    assert done["uses"] is True
    log = str(done["log"])
    assert log.count("asked to run with AMX off but run with it on") == 2


@pytest.mark.skipif(not X86_LINUX, reason="alternate signal stacks of Linux x86-64")
def test_the_loading_thread_gets_its_own_signal_stack_back() -> None:
    # faulthandler gives the main thread an alternate stack of its own; while the loader's
    # small one is in place Linux refuses AMX (ENOSPC) on a CPU that has it.
    done = python(
        "import ctypes, errno, faulthandler, json\n"
        "from biometrics import runtime\n"
        "class Stack(ctypes.Structure):\n"
        "    _fields_ = [('sp', ctypes.c_void_p), ('flags', ctypes.c_int),"
        " ('size', ctypes.c_size_t)]\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def stack():\n"
        "    s = Stack(); libc.sigaltstack(None, ctypes.byref(s)); return [s.sp, s.flags, s.size]\n"
        "out = {'none_before': stack()}\n"
        "with runtime._amx_refused():\n"
        "    out['none_during'] = stack()\n"
        "out['none_after'] = stack()\n"
        "faulthandler.enable()\n"
        "out['own_before'] = stack()\n"
        "with runtime._amx_refused():\n"
        "    out['during'] = stack()\n"
        "    refused = libc.syscall(158, 0x1023, 18)  # ARCH_REQ_XCOMP_PERM, XTILEDATA\n"
        "    out['request'] = [refused, ctypes.get_errno() if refused else 0]\n"
        "out['own_after'] = stack()\n"
        "print(json.dumps(out))"
    )
    assert done["none_before"] == done["none_after"]
    assert done["none_before"][1] == 2  # SS_DISABLE: no stack of its own
    assert done["own_before"] == done["own_after"]
    assert done["own_before"][2] > runtime.AMX_REFUSING_STACK
    assert done["during"][2] == done["none_during"][2] == runtime.AMX_REFUSING_STACK
    if AMX_CPU:
        assert done["request"] == [-1, 28]  # ENOSPC


def test_a_sandbox_that_forbids_the_small_stack_still_gets_onnx_runtime() -> None:
    # A stack under MINSIGSTKSZ makes sigaltstack fail (ENOMEM), as a sandbox might.
    done = python(
        "import json\n"
        "from biometrics import runtime\n"
        "runtime.AMX_REFUSING_STACK = 1024\n"
        "ort = runtime.onnxruntime()\n"
        "print(json.dumps({'version': ort.__version__, 'uses': runtime.int8_uses_amx()}))"
    )
    assert done["version"]
    assert done["uses"] is AMX_CPU
    if AMX_CPU:
        assert "sigaltstack failed (Cannot allocate memory)" in str(done["log"])


def test_this_process_searches_without_amx() -> None:
    # The test session loads onnxruntime through the loader (tests/conftest.py), as the
    # service does, so every search test runs the production kernel.
    assert runtime.int8_uses_amx() is False
    assert preferred_layout() is CodesLayout.COLUMNS


# Both layouts on AMX tiles against a float64 reference, with a tie (t5 = t17).
SEARCH_ON_AMX = """
import json, os, sys
import numpy as np
from biometrics import runtime
runtime.load(amx=True)
from biometrics.matcher import Gallery, Searcher
from biometrics.matcher.codes import CodesLayout

rng = np.random.default_rng(7)
templates = rng.standard_normal((3000, 128)).astype(np.float32)
templates[17] = templates[5]
queries = np.concatenate([templates[[5, 99]], rng.standard_normal((30, 128))]).astype(np.float32)
distances = np.linalg.norm(
    queries.astype(np.float64)[:, None] - templates.astype(np.float64)[None], axis=2)
out = {"uses": runtime.int8_uses_amx()}
for layout in ("columns", "rows"):
    gallery = Gallery.create(os.path.join(sys.argv[1], layout), codes_layout=CodesLayout(layout))
    gallery.add([f"t{i}" for i in range(len(templates))], templates)
    with Searcher(gallery, threads=2) as searcher:
        hits = searcher.search(queries, k=10)
    out[layout] = all(
        sorted(distances[q][[int(h.id[1:]) for h in row]]) == sorted(np.sort(distances[q])[:10])
        for q, row in enumerate(hits))
print(json.dumps(out))
"""


@needs_amx
def test_searches_on_amx_tiles_are_exact(tmp_path: Path) -> None:
    done = python(SEARCH_ON_AMX, str(tmp_path))
    assert (done["uses"], done["columns"], done["rows"]) == (True, True, True)


SAYS_TRUE = ["1", "true", "True", "YES", "y", "on", " t "]
SAYS_FALSE = ["", "0", "false", "FALSE", "no", "n", "off", "f"]


@pytest.mark.parametrize(
    ("value", "asked"), [*((v, True) for v in SAYS_TRUE), *((v, False) for v in SAYS_FALSE)]
)
def test_the_environment_asks_for_amx_in_the_settings_words(
    value: str, asked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(runtime.AMX_VARIABLE, value)
    assert runtime.amx_asked() is asked


def test_an_unset_variable_asks_for_no_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtime.AMX_VARIABLE, raising=False)
    assert runtime.amx_asked() is False


@given(st.text(max_size=12))
def test_any_other_value_is_refused_by_name(value: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        # The environment holds no NUL: the value it holds is the one to judge.
        patch.setenv(runtime.AMX_VARIABLE, value.replace("\0", ""))
        value = os.environ[runtime.AMX_VARIABLE]
        known = value.strip().lower() in {v.strip().lower() for v in SAYS_TRUE + SAYS_FALSE}
        if known:
            assert isinstance(runtime.amx_asked(), bool)
            return
        with pytest.raises(ValueError, match=runtime.AMX_VARIABLE) as refused:
            runtime.amx_asked()
        assert repr(value) in str(refused.value)
