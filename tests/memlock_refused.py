"""Runs Python code (argv[1]) in a process the kernel refuses memory locks beyond 64 KiB:
CAP_IPC_LOCK dropped (where it runs as root) and RLIMIT_MEMLOCK set to 64 KiB. The code gets
`sys.argv[2:]` as `args` and `locked_kib()`, this process's locked memory as the kernel counts
it. For the tests of `Gallery.lock_memory`'s refusals, which also take the helpers below."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
from pathlib import Path

LIMIT = 65536
CAP_IPC_LOCK = 14
_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def refuse_locks() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(_CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for d in data:
        d.effective &= ~(1 << CAP_IPC_LOCK)
        d.permitted &= ~(1 << CAP_IPC_LOCK)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (LIMIT, hard))


def locked_kib() -> int:
    """This process's locked memory, as the kernel counts it (kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    raise RuntimeError("no VmLck in /proc/self/status")


def mapped_files(gallery: Path) -> list[Path]:
    """The files a gallery maps (all but its header)."""
    return [f for f in gallery.iterdir() if f.name != "gallery.json"]


def files_kib(gallery: Path) -> int:
    """The kernel's count of a gallery's files' pages when locked (each file's last page
    whole), in kB."""
    page = os.sysconf("SC_PAGE_SIZE")
    return sum(-(-f.stat().st_size // page) * page for f in mapped_files(gallery)) // 1024


def run_refused(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`code` run by this script with `args`, from the repository root (raises on a failure)."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, __file__, code, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


if __name__ == "__main__":
    refuse_locks()
    exec(sys.argv[1], {"args": sys.argv[2:], "locked_kib": locked_kib, "LIMIT": LIMIT})
