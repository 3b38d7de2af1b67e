"""ONNX Runtime, loaded once per process, with its int8 products kept off AMX unless asked.

ONNX Runtime's math library (MLAS) picks its uint8 x int8 kernel as the library loads: on a
CPU with AMX it asks Linux for the AMX tile state (``arch_prctl(ARCH_REQ_XCOMP_PERM)``, Linux
5.16 and later) and, once granted, runs every int8 product on AMX tiles. The matcher's
products have 1 to 1,024 query columns against 65,536-template runs, and there the AVX-512
VNNI kernel is faster at every batch: a search of 1M fp16 templates on a 2-core Xeon with AMX
(Emerald Rapids, onnxruntime 1.31.1) took 20.7 ms for one query with AMX (the ROWS layout,
its best) and 9.7 ms without (COLUMNS), and ran 456 / 518 / 418 queries/s at B = 64 / 256 /
1,024 with AMX against 663 / 762 / 795 without. The face embedding is float32 work, which
MLAS does not run on AMX: on the same host it took 2.76 / 2.40 and 2.48 / 1.94 ms a face at
batch 1 / 32 with AMX, 2.50 / 1.96 and 3.03 / 2.45 ms without (two processes each; noise).

ONNX Runtime has no switch for this. Linux, though, refuses the permission with ENOSPC while
any thread of the process has an alternate signal stack too small for a signal frame holding
the AMX state (8 KiB of tile data on top of the rest). So the first load installs such a
stack on the loading thread for the length of the import and then puts the thread's own back.
Only that import sees it: a library that asks for AMX later in the process still gets it (ONNX
Runtime does not ask again), and a fatal-signal handler (the only kind that runs on an
alternate stack) that fired during the import would find room for a frame without AMX state.

Load it through `onnxruntime()` (or `load(amx=...)` first, to choose) rather than ``import
onnxruntime``: the first import in the process decides, whoever makes it. EGATE_ONNX_AMX=true
makes `onnxruntime()`'s first load allow AMX.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import logging
import os
import platform
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

_SYS_ARCH_PRCTL = 158  # x86-64 syscall number
_ARCH_GET_XCOMP_PERM = 0x1022
_XFEATURE_XTILEDATA = 18
_SS_ONSTACK = 1
# Bytes: holds a signal frame without AMX state (~3.7 KiB with AVX-512) but not one with it
# (that adds 8 KiB of tile data), so Linux refuses AMX while it is a thread's alternate stack.
AMX_REFUSING_STACK = 8192

AMX_VARIABLE = "EGATE_ONNX_AMX"
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"", "0", "false", "f", "no", "n", "off"}

_lock = threading.Lock()
_int8_on_amx: bool | None = None  # decided when onnxruntime loads


class _SignalStack(ctypes.Structure):
    _fields_ = [
        ("ss_sp", ctypes.c_void_p),
        ("ss_flags", ctypes.c_int),
        ("ss_size", ctypes.c_size_t),
    ]


def onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module; the first call in a process loads it with AMX refused
    unless EGATE_ONNX_AMX asks for it (see `amx_asked`)."""
    if _int8_on_amx is None:
        return load(amx=amx_asked())
    return sys.modules["onnxruntime"]


def amx_asked() -> bool:
    """Whether the environment asks for AMX: EGATE_ONNX_AMX true (1, yes, on, t, y) or false
    (0, no, off, f, n; unset or empty: false), as the service's settings read it. It decides
    for a process whose first load does not choose itself (the `egate` commands, scripts).
    Raises ValueError, naming the variable and its value, for anything else."""
    value = os.environ.get(AMX_VARIABLE, "")
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{AMX_VARIABLE} must be true or false (1/0, yes/no, on/off), not {value!r}")


def load(*, amx: bool) -> ModuleType:
    """The ``onnxruntime`` module, loaded (if this is the first load) with its int8 products
    allowed on AMX tiles or not. A load that comes too late to choose, because onnxruntime or
    another library already decided for this process, logs a warning and changes nothing;
    `int8_uses_amx` tells what the process got."""
    global _int8_on_amx
    with _lock:
        if _int8_on_amx is None:
            _int8_on_amx = _import(amx)
        elif amx != _int8_on_amx:
            _warn_if_amx_differs(amx, _int8_on_amx)
        return sys.modules["onnxruntime"]


def single_threaded_session(model: Any) -> Any:
    """An InferenceSession of an ONNX `model` (a ModelProto) on the CPU, one thread for its
    ops: for the small graphs a caller runs on its own thread (run() is thread-safe)."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def int8_uses_amx() -> bool:
    """Whether this process's ONNX Runtime runs its int8 products on AMX tiles (loads it as
    `onnxruntime()` does if nothing has yet)."""
    onnxruntime()
    return bool(_int8_on_amx)


def _import(amx: bool) -> bool:
    """Imports onnxruntime; whether its int8 products got AMX."""
    if "onnxruntime" not in sys.modules and not amx and cpu_has_amx():
        if _amx_permitted():
            log.warning("another library was granted AMX before onnxruntime loaded: it uses it")
        with _amx_refused():
            importlib.import_module("onnxruntime")
    else:
        importlib.import_module("onnxruntime")
    got = _amx_permitted()
    _warn_if_amx_differs(amx, got)
    return got


def _warn_if_amx_differs(asked: bool, got: bool) -> None:
    if asked != got and cpu_has_amx():
        log.warning(
            "onnxruntime's int8 products were asked to run with AMX %s but run with it %s, as "
            "decided when onnxruntime first loaded in this process; restart it to change that",
            "on" if asked else "off",
            "on" if got else "off",
        )


@contextlib.contextmanager
def _amx_refused() -> Iterator[None]:
    """This thread's alternate signal stack is one too small for AMX state, then its own."""
    libc = _libc()
    buffer = ctypes.create_string_buffer(AMX_REFUSING_STACK)
    small = _SignalStack(ctypes.addressof(buffer), 0, AMX_REFUSING_STACK)
    own = _SignalStack()
    if libc.sigaltstack(ctypes.byref(small), ctypes.byref(own)) != 0:
        # A sandbox may forbid it: then load as ONNX Runtime would on its own, only slower.
        log.warning("sigaltstack failed (%s): onnxruntime may run int8 on AMX", _errno())
        yield
        return
    try:
        yield
    finally:
        own.ss_flags &= ~_SS_ONSTACK  # a report about the old stack, not a flag to set
        if libc.sigaltstack(ctypes.byref(own), None) != 0:
            raise OSError(ctypes.get_errno(), "sigaltstack did not take this thread's own back")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _errno() -> str:
    return os.strerror(ctypes.get_errno())


def _amx_permitted() -> bool:
    """Whether Linux lets this process use AMX tile data (False off Linux x86-64 or before
    Linux 5.16, which had no such permission and no AMX)."""
    if not _linux_x86_64():
        return False
    mask = ctypes.c_uint64(0)
    if _libc().syscall(_SYS_ARCH_PRCTL, _ARCH_GET_XCOMP_PERM, ctypes.byref(mask)) != 0:
        return False
    return bool(mask.value >> _XFEATURE_XTILEDATA & 1)


@functools.cache
def cpu_has_amx() -> bool:
    """Whether Linux names AMX among this x86-64 CPU's flags (amx_int8 and amx_tile)."""
    if not _linux_x86_64():
        return False
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return {"amx_int8", "amx_tile"} <= set(line.split(":", 1)[1].split())
    except OSError:
        return False
    return False


def _linux_x86_64() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")
