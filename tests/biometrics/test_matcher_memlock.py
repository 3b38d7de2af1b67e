"""Locking a gallery's mapped files in RAM: the kernel's own count of locked memory (VmLck)
follows the gallery as it is locked, grows and closes, and a process the kernel refuses gets
a typed error naming its limit, with nothing locked and no change lost."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from memlock_refused import files_kib, locked_kib, mapped_files, run_refused

from biometrics.matcher import Gallery, GalleryDtype, MemoryLockRefused, Searcher

DIM = 128
BLOCK = 256  # small blocks: a few files of tens of KiB, under any default RLIMIT_MEMLOCK


def files_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in mapped_files(path))


def vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    with Gallery.create(tmp_path / "g", DIM, GalleryDtype.FLOAT16, block=BLOCK) as gallery:
        gallery.add([f"t{i}" for i in range(300)], vectors(np.random.default_rng(1), 300))
    return tmp_path / "g"


def test_lock_follows_the_gallery_as_it_grows_and_closes(small: Path) -> None:
    before = locked_kib()
    gallery = Gallery.open(small, lock_memory=True)
    # Two blocks of 256 in each file.
    assert gallery.locked_bytes == files_bytes(small) > 0
    assert locked_kib() - before == files_kib(small)
    gallery.add([f"n{i}" for i in range(400)], vectors(np.random.default_rng(2), 400))
    # Grown to three blocks: the new mappings are locked, the old ones no longer.
    assert gallery.locked_bytes == files_bytes(small)
    assert locked_kib() - before == files_kib(small)
    assert gallery.lock_error is None
    q = vectors(np.random.default_rng(3), 2)
    assert Searcher(gallery).search(q, k=3)[0][0].distance >= 0.0
    gallery.close()
    assert gallery.locked_bytes == 0
    assert locked_kib() == before


def test_locking_twice_locks_once(small: Path) -> None:
    before = locked_kib()
    with Gallery.open(small) as gallery:
        assert gallery.locked_bytes == 0
        first = gallery.lock_memory()
        assert gallery.lock_memory() == first == files_bytes(small)
        assert locked_kib() - before == files_kib(small)
    assert locked_kib() == before


def test_an_empty_gallery_locks_what_it_grows_into(tmp_path: Path) -> None:
    before = locked_kib()
    with Gallery.create(tmp_path / "g", DIM, GalleryDtype.FLOAT32, block=BLOCK) as gallery:
        assert gallery.lock_memory() == 0
        gallery.add(["a", "b"], vectors(np.random.default_rng(4), 2))
        assert gallery.locked_bytes == files_bytes(tmp_path / "g") > 0
        assert locked_kib() - before == files_kib(tmp_path / "g")
    assert locked_kib() == before


# Run by tests/memlock_refused.py, in a process refused locks beyond 64 KiB (`args`: the
# gallery to open, and a path for one to create).
_REFUSED = textwrap.dedent(
    """
    import json
    import numpy as np
    from biometrics.matcher import Gallery, MemoryLockRefused

    out = {}
    try:
        Gallery.open(args[0], lock_memory=True)
    except MemoryLockRefused as e:
        out["refused"] = {"code": e.code, "requested": e.requested, "limit": e.limit,
                          "message": str(e), "locked_kib": locked_kib()}
    # Under the limit at first, then grown past it: the change stands, unlocked.
    with Gallery.create(args[1], 128, block=16) as g:
        g.add(["a"], np.full((1, 128), 0.05, np.float32))
        out["small"] = g.lock_memory()
        g.add([f"b{i}" for i in range(200)], np.full((200, 128), 0.05, np.float32))
        out["grown"] = {"locked": g.locked_bytes, "error": type(g.lock_error).__name__,
                        "count": len(g), "locked_kib": locked_kib()}
    with Gallery.open(args[1]) as g:
        out["reopened"] = len(g)
    print(json.dumps(out))
    """
)


def test_a_refused_lock_is_typed_names_the_limit_and_locks_nothing(
    small: Path, tmp_path: Path
) -> None:
    out = json.loads(run_refused(_REFUSED, str(small), str(tmp_path / "grows")).stdout)
    refused = out["refused"]
    assert refused["code"] == MemoryLockRefused.code == "memory_lock_refused"
    assert refused["requested"] == files_bytes(small)
    assert refused["limit"] == 65536
    assert "RLIMIT_MEMLOCK is 65,536 bytes" in refused["message"]
    assert refused["locked_kib"] == 0
    assert 0 < out["small"] <= 65536
    assert out["grown"] == {
        "locked": 0,
        "error": "MemoryLockRefused",
        "count": 201,
        "locked_kib": 0,
    }
    assert out["reopened"] == 201
