"""Locking a gallery's mapped files in RAM (mlock), so that a search never reads them back from
disk.

A mapped gallery is page cache, which the kernel reclaims when other processes need memory. On
a 2-core Zen 4 VM with another process holding all but 100 MiB of the available memory,
one-query searches of 1M float16 templates took 57-440 ms unlocked (13-61 pages read back
from disk a search) and 12-39 ms locked, against ~10 ms with memory to spare
(benchmarks/bench_matcher_memlock.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import resource
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.matcher.errors import MemoryLockRefused

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mlock.argtypes = _libc.munlock.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.mlock.restype = _libc.munlock.restype = ctypes.c_int


def lock(path: Path, arrays: Iterable[np.ndarray[Any, Any]]) -> int:
    """Locks the memory of `arrays` (the gallery at `path`'s mappings) and returns its bytes;
    all or nothing: on a refusal unlocks what it locked and raises `MemoryLockRefused`. mlock
    reads in every page it locks that is not in RAM yet."""
    arrays = [a for a in arrays if a.nbytes]
    requested = sum(a.nbytes for a in arrays)
    for i, array in enumerate(arrays):
        if _libc.mlock(array.ctypes.data, array.nbytes) != 0:
            code = ctypes.get_errno()
            unlock(arrays[:i])
            raise MemoryLockRefused(path, requested, memlock_limit(), _reason(code))
    return requested


def unlock(arrays: Iterable[np.ndarray[Any, Any]]) -> None:
    """Unlocks the memory of `arrays` (a no-op for memory not locked)."""
    for array in arrays:
        if array.nbytes:
            _libc.munlock(array.ctypes.data, array.nbytes)


def memlock_limit() -> int | None:
    """The process's soft RLIMIT_MEMLOCK in bytes; None: unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return None if soft == resource.RLIM_INFINITY else soft


def _reason(code: int) -> str:
    if code == errno.ENOMEM:
        return "over RLIMIT_MEMLOCK or out of RAM (ENOMEM)"
    if code == errno.EPERM:
        return "not permitted (EPERM)"
    return os.strerror(code)
