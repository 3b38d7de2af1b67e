"""A memory-mapped gallery of templates with string ids: add, remove, replace without rebuilding.

On disk a gallery is a directory:

- ``gallery.json``: format, dim, dtype, block size, id width, count, capacity (in blocks),
  codes layout;
- ``templates.bin``: (capacity * block, dim) float32 or float16, one template a row, so the
  re-rank reads a few templates as a few short runs of bytes;
- ``half_sq_norms.bin``: (capacity, block) float32, |g|^2/2 of each stored template (of the
  float16 values for a float16 gallery), so a search never recomputes them;
- ``ids.bin``: (capacity * block,) fixed-width UTF-8 ids, slot order;
- ``codes.bin``: the 8-bit codes a CPU search scans, in the layout the host's int8 matrix
  product reads best (`codes.CodesLayout`, chosen when the gallery is created): COLUMNS,
  (capacity, dim, block) int8, or ROWS, (capacity, block, dim) uint8 (c + 128); and
  ``code_terms.bin``: (capacity, 5, block) float32, their per-template scales and error bounds
  (see `codes`), written with every template. A gallery in either layout searches correctly
  on any host. A gallery of format version 2 has COLUMNS codes (its header gains the layout
  at its next change); one of version 1 (``vectors.bin``, the templates as (dim, block)
  columns, and no codes) is upgraded in place when opened.

Templates occupy slots 0..count-1 densely. Removing moves the last template into the freed
slot, so a removal costs one template's copy and the gallery never needs compaction; slot order
is therefore insertion order only until the first removal. Opening maps the files and reads
nothing else: a 10-million template gallery costs no memory until searched, and then only the
page cache holds it (the id -> slot map is built on the first call that needs it).

A template's row, norm, codes and terms are written one after another, so a write cut short
would leave codes that do not match the stored template (and a search whose error bound no
longer holds), or, in a removal, an id in two slots. `replace`, `remove` and `upsert`
(replace the known ids, add the rest) therefore first save what they will overwrite
(``undo.npz``: the slots, their stored templates and ids, the count); an exception rolls the
change back at once, and a process that died mid-write leaves the file, from which the next
`open` rolls it back. `add` needs none: it writes only past the count, which the header
advances last. The same order holds on disk after a power cut: the
undo file is fsynced (and its directory entry) before the change starts, the changed pages are
msynced before the header is rewritten after an add and before the undo file is deleted, and
the header is replaced by an fsynced copy. (On one ext4 disk this took a one-template add from
0.3 to 2.5 ms and a replace or remove from ~0.7 to ~3.6 ms; a bulk add is unchanged.)

Not safe for concurrent writers across processes; within one process every method takes the
gallery's lock, so a `Searcher` never sees a half-written template.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.matcher import memlock
from biometrics.matcher.codes import (
    TERM_ROWS,
    CodesLayout,
    as_rows,
    encode_templates,
    preferred_layout,
)
from biometrics.matcher.errors import (
    DuplicateId,
    GalleryFileError,
    InvalidArgument,
    InvalidId,
    MemoryLockRefused,
    UnknownId,
)
from biometrics.matcher.vectors import Vectors, as_vectors, stored_as_float32

FORMAT = "egate-gallery"
FORMAT_VERSION = 3
# Version 1 galleries lack the codes files; `open` writes them.
_UPGRADABLE = (1,)
# Version 2 galleries differ only by their header, which names no layout: COLUMNS.
_READABLE = (2, FORMAT_VERSION)
DEFAULT_ID_BYTES = 64

_HEADER = "gallery.json"
_VECTORS = "templates.bin"
_V1_VECTORS = "vectors.bin"
_NORMS = "half_sq_norms.bin"
_IDS = "ids.bin"
_CODES = "codes.bin"
_TERMS = "code_terms.bin"
# What a replace, upsert or remove is about to overwrite (see Gallery._journal).
_UNDO = "undo.npz"


class GalleryDtype(enum.Enum):
    """Storage type of the templates. FLOAT16 halves memory and the bytes a search reads;
    ranking is computed in float32 on the stored (rounded) values."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"

    @property
    def numpy(self) -> np.dtype[Any]:
        return np.dtype(self.value)

    @property
    def default_block(self) -> int:
        """Templates per block unless `Gallery.create` is given one: 16384 for both dtypes.

        A CPU search scans a block's 8-bit codes (2 MiB) with one int8 matrix product and five
        element-wise steps; each step costs a few microseconds whatever its length, so long
        blocks amortise them (one query against 1M templates on a 2-core EPYC, Zen 4: 6.4 ms
        with blocks of 16384, 7.1 ms with 8192).
        """
        return 16384


@dataclass(frozen=True)
class Block:
    """Search view of one block: `rows` (m, dim) in the gallery dtype, `half_sq_norms`
    (m,) float32, `codes` (dim, m) int8 or, in a ROWS gallery, (m, dim) uint8, and `terms`
    (codes.TERM_ROWS, m) float32 for slots
    first_slot .. first_slot+m-1. `version` changes whenever a template in the block changes,
    so device copies and caches know when to refresh."""

    index: int
    first_slot: int
    rows: npt.NDArray[Any]
    half_sq_norms: npt.NDArray[np.float32]
    codes: npt.NDArray[Any]
    terms: npt.NDArray[np.float32]
    version: int


class Gallery:
    """Templates (dim floats) under unique str ids, memory-mapped from a directory.

    Create with `Gallery.create`, reopen with `Gallery.open`; use as a context manager or call
    `close()`. Vectors are raw dlib descriptors (not normalised); they are stored as given,
    rounded to the gallery dtype.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        """Internal: use `create` or `open`."""
        self.path = path
        self.dim = int(header["dim"])
        self.dtype = GalleryDtype(header["dtype"])
        self.block_size = int(header["block"])
        self.id_bytes = int(header["id_bytes"])
        self.codes_layout = CodesLayout(header.get("codes_layout", CodesLayout.COLUMNS.value))
        self._count = int(header["count"])
        self._capacity = int(header["capacity_blocks"])
        self._lock = threading.RLock()
        self._index: dict[str, int] | None = None
        self._block_versions = [0] * self._capacity
        self.version = 0
        # blocks() views, made once per change: building ~250 of them cost ~1.2 ms, 6% of a
        # one-query search of a million templates.
        self._block_views: list[Block] | None = None
        self.locked_bytes = 0  # of the mappings locked in RAM (see lock_memory)
        self._keep_locked = False
        # Why the mappings are no longer locked, after a growth past RLIMIT_MEMLOCK.
        self.lock_error: MemoryLockRefused | None = None
        self._map()
        if (path / _UNDO).exists():
            self._roll_back_file()

    # ---- files -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        dim: int = 128,
        dtype: GalleryDtype = GalleryDtype.FLOAT32,
        *,
        block: int | None = None,
        id_bytes: int = DEFAULT_ID_BYTES,
        codes_layout: CodesLayout | None = None,
    ) -> Gallery:
        """A new, empty gallery in directory `path` (created; must not exist or be empty).

        `block` is the number of templates per block (None: the dtype's `default_block`),
        `id_bytes` the longest id in UTF-8 bytes, `codes_layout` how the codes are stored
        (None: `codes.preferred_layout()`, this host's).
        """
        if block is None:
            block = GalleryDtype(dtype).default_block
        if codes_layout is None:
            codes_layout = preferred_layout()
        elif not isinstance(codes_layout, CodesLayout):
            raise InvalidArgument("codes_layout", codes_layout, "must be a CodesLayout")
        for name, value in (("dim", dim), ("block", block), ("id_bytes", id_bytes)):
            if not isinstance(value, int) or value < 1:
                raise InvalidArgument(name, value, "must be a positive int")
        root = Path(path)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise GalleryFileError(root, "already exists and is not an empty directory")
        root.mkdir(parents=True, exist_ok=True)
        for name in (_VECTORS, _NORMS, _IDS, _CODES, _TERMS):
            (root / name).touch()
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "dim": dim,
            "dtype": GalleryDtype(dtype).value,
            "block": block,
            "id_bytes": id_bytes,
            "count": 0,
            "capacity_blocks": 0,
            "codes_layout": codes_layout.value,
        }
        _write_header(root, header)
        return cls(root, header)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_memory: bool = False) -> Gallery:
        """Map an existing gallery; reads only its header (and, with `lock_memory`, every
        page: see `lock_memory`)."""
        root = Path(path)
        try:
            header = json.loads((root / _HEADER).read_text())
        except FileNotFoundError:
            raise GalleryFileError(root, f"no {_HEADER}: not a gallery") from None
        except (OSError, ValueError) as e:
            raise GalleryFileError(root, f"unreadable {_HEADER}: {e}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise GalleryFileError(root, f"{_HEADER} is not an {FORMAT} header")
        version = header.get("version")
        if version in _UPGRADABLE:
            _upgrade(root, header)
        elif version not in _READABLE:
            raise GalleryFileError(root, f"format version {version} unsupported")
        try:
            gallery = cls(root, header)
        except (KeyError, ValueError, TypeError) as e:
            raise GalleryFileError(root, f"bad header or file sizes: {e}") from None
        if lock_memory:
            try:
                gallery.lock_memory()
            except MemoryLockRefused:
                gallery.close()
                raise
        return gallery

    def lock_memory(self) -> int:
        """Locks the gallery's mapped files in RAM (mlock), now and as the gallery grows, until
        `close`, so that the kernel never reclaims a page a search reads; returns the bytes
        locked (the files' sizes). Reads in the pages not yet in RAM. Raises
        `MemoryLockRefused` (nothing locked) where RLIMIT_MEMLOCK is below the files' size and
        the process lacks CAP_IPC_LOCK. A later growth past the limit does not fail the change
        that grew the files: it leaves them unlocked, with the refusal in `lock_error`."""
        with self._lock:
            if not self._keep_locked:
                self.locked_bytes = memlock.lock(self.path, self._mapped())
                self._keep_locked = True
            return self.locked_bytes

    def _mapped(self) -> list[npt.NDArray[Any]]:
        return [self._vectors, self._norms, self._ids, self._codes, self._terms]

    def _map(self) -> None:
        self._block_views = None
        if self.locked_bytes:
            memlock.unlock(self._mapped())
            self.locked_bytes = 0
        cap, dim, block = self._capacity, self.dim, self.block_size
        expected = {name: cap * size for name, size in self._block_bytes().items()}
        for name, size in expected.items():
            path = self.path / name
            if not path.exists():
                raise ValueError(f"{name} is missing")
            actual = path.stat().st_size
            if actual != size:
                raise ValueError(f"{name} holds {actual} bytes, header implies {size}")
        if self._count > cap * block:
            raise ValueError(f"count {self._count} exceeds capacity {cap * block}")
        id_type = np.dtype(f"S{self.id_bytes}")
        if cap == 0:
            self._vectors: npt.NDArray[Any] = np.zeros((0, block, dim), self.dtype.numpy)
            self._norms: npt.NDArray[np.float32] = np.zeros((0, block), np.float32)
            self._ids: npt.NDArray[np.bytes_] = np.zeros(0, id_type)
            self._codes: npt.NDArray[Any] = np.zeros((0, *self._codes_shape()), self._codes_dtype())
            self._terms: npt.NDArray[np.float32] = np.zeros((0, TERM_ROWS, block), np.float32)
            return
        self._vectors = np.memmap(
            self.path / _VECTORS, self.dtype.numpy, "r+", shape=(cap, block, dim)
        )
        self._norms = np.memmap(self.path / _NORMS, np.float32, "r+", shape=(cap, block))
        self._ids = np.memmap(self.path / _IDS, id_type, "r+", shape=(cap * block,))
        self._codes = np.memmap(
            self.path / _CODES, self._codes_dtype(), "r+", shape=(cap, *self._codes_shape())
        )
        self._terms = np.memmap(self.path / _TERMS, np.float32, "r+", shape=(cap, TERM_ROWS, block))
        if self._keep_locked:
            try:
                self.locked_bytes = memlock.lock(self.path, self._mapped())
                self.lock_error = None
            except MemoryLockRefused as refused:
                # Grown past the limit: the change goes on, unlocked, and says why here.
                self.lock_error = refused

    def _codes_shape(self) -> tuple[int, int]:
        """A block's codes: (dim, block) columns or (block, dim) rows."""
        if self.codes_layout is CodesLayout.ROWS:
            return self.block_size, self.dim
        return self.dim, self.block_size

    def _codes_dtype(self) -> type[np.integer[Any]]:
        return np.uint8 if self.codes_layout is CodesLayout.ROWS else np.int8

    def _block_bytes(self) -> dict[str, int]:
        """Bytes a block takes in each file."""
        block = self.block_size
        return {
            _VECTORS: self.dim * block * self.dtype.numpy.itemsize,
            _NORMS: block * 4,
            _IDS: block * self.id_bytes,
            _CODES: self.dim * block,
            _TERMS: TERM_ROWS * block * 4,
        }

    def _grow(self, count: int) -> None:
        needed = math.ceil(count / self.block_size)
        if needed <= self._capacity:
            return
        self.flush()
        for name, per_block in self._block_bytes().items():
            with (self.path / name).open("r+b") as f:
                f.truncate(needed * per_block)
                os.fsync(f.fileno())
        self._block_versions += [0] * (needed - self._capacity)
        self._capacity = needed
        self._map()
        self._save_header()

    def _save_header(self) -> None:
        _write_header(
            self.path,
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "dim": self.dim,
                "dtype": self.dtype.value,
                "block": self.block_size,
                "id_bytes": self.id_bytes,
                "count": self._count,
                "capacity_blocks": self._capacity,
                "codes_layout": self.codes_layout.value,
            },
        )

    def flush(self) -> None:
        """Write mapped pages to disk (msync); the header is rewritten on every change."""
        with self._lock:
            for array in self._mapped():
                if isinstance(array, np.memmap):
                    array.flush()

    def close(self) -> None:
        """Flush and unmap. The object is unusable afterwards."""
        with self._lock:
            self.flush()
            if self.locked_bytes:
                memlock.unlock(self._mapped())
                self.locked_bytes = 0
            self._keep_locked = False
            self._vectors = self._norms = self._ids = None  # type: ignore[assignment]
            self._codes = self._terms = None  # type: ignore[assignment]
            self._index = None
            self._block_views = None

    def __enter__(self) -> Gallery:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def __contains__(self, template_id: object) -> bool:
        return isinstance(template_id, str) and template_id in self._id_index()

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r}, n={self._count}, dim={self.dim}, {self.dtype.value})"

    @property
    def ids(self) -> list[str]:
        """Every id, in slot order."""
        with self._lock:
            return [raw.decode() for raw in self._ids[: self._count].tolist()]

    def ids_at(self, slots: npt.NDArray[np.int64]) -> list[str]:
        """Ids of the given slots (0 <= slot < len)."""
        return [raw.decode() for raw in self._ids.view(np.ndarray)[slots].tolist()]

    def get(self, ids: Sequence[str]) -> Vectors:
        """(n, dim) float32 stored templates of `ids` (UnknownId for an absent one)."""
        with self._lock:
            return self.vectors_at(self._slots(ids, unique=False))

    def vectors_at(self, slots: npt.NDArray[np.int64]) -> Vectors:
        """(n, dim) float32 stored templates of the given slots."""
        return stored_as_float32(self.stored_at(slots))

    def templates_at(
        self, slots: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """(n, dim) stored templates, in the gallery's dtype, and (n,) float32 |g|^2/2 of the
        given slots (0 <= slot < len): what a search re-ranks. Left in the stored dtype: the
        re-rank of a few dozen widens them straight to float64 (on so few, with the caches
        cold after a scan, numpy's float16 cast beat the integer steps `float16_to_float32`
        took before it used ONNX Runtime's Cast)."""
        norms = np.take(self._norms.view(np.ndarray).reshape(-1), slots)
        return self.stored_at(slots), norms

    def blocks(self) -> list[Block]:
        """Views (no copy) of every non-empty block, in slot order (made again after a change)."""
        with self._lock:
            if self._block_views is not None:
                return list(self._block_views)
            views = []
            for b in range(math.ceil(self._count / self.block_size)):
                first = b * self.block_size
                width = min(self.block_size, self._count - first)
                views.append(
                    Block(
                        b,
                        first,
                        np.asarray(self._vectors[b, :width]),
                        np.asarray(self._norms[b, :width]),
                        np.asarray(
                            self._codes[b, :width]
                            if self.codes_layout is CodesLayout.ROWS
                            else self._codes[b, :, :width]
                        ),
                        np.asarray(self._terms[b, :, :width]),
                        self._block_versions[b],
                    )
                )
            self._block_views = views
            return list(views)

    def stacked_codes(
        self, start: int, stop: int
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """Views (no copy) of the codes (n, dim, block) int8, or (n, block, dim) uint8 in a ROWS
        gallery, and terms (n, codes.TERM_ROWS, block) of the full blocks start .. stop-1, as
        one array each (the files hold them in order)."""
        with self._lock:
            if not 0 <= start < stop <= self._count // self.block_size:
                raise ValueError(f"blocks {start}..{stop - 1} are not all full")
            codes = self._codes.view(np.ndarray)[start:stop]
            terms = self._terms.view(np.ndarray)[start:stop]
            return codes, terms

    def _id_index(self) -> dict[str, int]:
        with self._lock:
            if self._index is None:
                self._index = {tid: slot for slot, tid in enumerate(self.ids)}
            return self._index

    def _slots(self, ids: Sequence[str], *, unique: bool) -> npt.NDArray[np.int64]:
        index = self._id_index()
        seen: set[str] = set()
        slots = np.empty(len(ids), np.int64)
        for i, tid in enumerate(ids):
            if not isinstance(tid, str) or tid not in index:
                raise UnknownId(tid) if isinstance(tid, str) else InvalidId(tid, "not a str")
            if unique:
                if tid in seen:
                    raise DuplicateId(tid)
                seen.add(tid)
            slots[i] = index[tid]
        return slots

    # ---- writing -----------------------------------------------------------------------

    def add(self, ids: Sequence[str], vectors: Any) -> None:
        """Append templates (n, dim) under new ids. All or nothing: a bad id or vector raises
        (InvalidId, DuplicateId, DimensionMismatch, NonFiniteValue, ValueOutOfRange) before
        anything is written."""
        ids = list(ids)
        values = self._check_batch(ids, vectors)
        with self._lock:
            index = self._id_index()
            for tid in ids:
                if tid in index:
                    raise DuplicateId(tid)
            self._append(ids, values, index)

    def _append(self, ids: list[str], values: Vectors, index: dict[str, int]) -> None:
        """Write checked templates under new ids past the count, then count them (the caller
        holds the lock)."""
        first = self._count
        self._grow(first + len(ids))
        self._ids[first : first + len(ids)] = _encode(ids, self.id_bytes)
        step = self.block_size
        done = 0
        while done < len(ids):
            block, column = divmod(first + done, step)
            take = min(step - column, len(ids) - done)
            stored = values[done : done + take].astype(self.dtype.numpy)
            columns = slice(column, column + take)
            self._vectors[block, columns] = stored
            self._norms[block, columns] = _half_sq_norms(stored)
            self._put_codes(block, columns, stored)
            self._block_versions[block] += 1
            done += take
        self.flush()  # the templates on disk before the header counts them
        self._count += len(ids)
        for offset, tid in enumerate(ids):
            index[tid] = first + offset
        self._changed()

    def replace(self, ids: Sequence[str], vectors: Any) -> None:
        """Overwrite the templates of existing ids (UnknownId, DuplicateId within the call)."""
        ids = list(ids)
        values = self._check_batch(ids, vectors, new=False)
        with self._lock:
            slots = self._slots(ids, unique=True)
            with self._journal(slots):
                self._write(slots, values.astype(self.dtype.numpy))
                self._changed()

    def upsert(self, ids: Sequence[str], vectors: Any) -> None:
        """Overwrite the templates of the ids that exist and append the others, as one change.
        All or nothing: a bad id or vector raises (InvalidId, DuplicateId within the call,
        DimensionMismatch, NonFiniteValue, ValueOutOfRange) before anything is written, and an
        error or a process dying part way puts back every overwritten template and the count,
        as `replace` does (one undo record covers both parts)."""
        ids = list(ids)
        values = self._check_batch(ids, vectors)
        with self._lock:
            index = self._id_index()
            present = np.array([tid in index for tid in ids], bool)
            slots = np.array([index[tid] for tid in ids if tid in index], np.int64)
            new = [tid for tid in ids if tid not in index]
            if not len(slots):
                self._append(new, values, index)
                return
            with self._journal(slots):
                self._write(slots, values[present].astype(self.dtype.numpy))
                if new:
                    self._append(new, values[~present], index)
                else:
                    self._changed()

    def remove(self, ids: Iterable[str]) -> None:
        """Delete templates by id; the last templates move into the freed slots."""
        ids = list(ids)
        with self._lock:
            index = self._id_index()
            removed = self._slots(ids, unique=True)
            touched = np.union1d(removed, np.arange(self._count - len(ids), self._count))
            with self._journal(touched):
                self._remove(ids, index)

    def _remove(self, ids: list[str], index: dict[str, int]) -> None:
        for tid in ids:
            slot = index.pop(tid)
            last = self._count - 1
            if slot != last:
                moved = self._ids[last].decode()
                self._write(np.array([slot]), self.stored_at([last]))
                self._ids[slot] = self._ids[last]
                index[moved] = slot
            self._write(np.array([last]), np.zeros((1, self.dim), self.dtype.numpy))
            self._ids[last] = b""
            self._count -= 1
        self._changed()

    @contextlib.contextmanager
    def _journal(self, slots: npt.NDArray[np.int64]) -> Iterator[None]:
        """Save the templates, ids and count that a change of `slots` will overwrite, make the
        change, then drop the saved copy; if the change raises, put everything back first."""
        saved = {
            "slots": slots,
            "templates": self.stored_at(slots),
            "ids": np.array(self._ids.view(np.ndarray)[slots]),
            "count": np.array(self._count),
        }
        tmp = self.path / (_UNDO + ".tmp.npz")
        np.savez(
            tmp,
            slots=saved["slots"],
            templates=saved["templates"],
            ids=saved["ids"],
            count=saved["count"],
        )
        _sync_file(tmp)
        os.replace(tmp, self.path / _UNDO)
        _sync_file(self.path)
        try:
            yield
        except BaseException:
            self._restore(saved)
            raise
        self.flush()  # the change on disk before its undo record goes
        (self.path / _UNDO).unlink()
        _sync_file(self.path)

    def _roll_back_file(self) -> None:
        """Undo a change that a process did not finish (see the module docstring)."""
        path = self.path / _UNDO
        try:
            with np.load(path) as saved:
                arrays = {name: saved[name] for name in ("slots", "templates", "ids", "count")}
        except (OSError, ValueError, KeyError) as e:
            raise GalleryFileError(self.path, f"unreadable {_UNDO}: {e}") from None
        slots, templates, ids, count = arrays.values()
        if not (
            slots.ndim == 1
            and np.issubdtype(slots.dtype, np.integer)
            and np.all((slots >= 0) & (slots < self._capacity * self.block_size))
            and templates.shape == (len(slots), self.dim)
            and ids.shape == (len(slots),)
            and ids.dtype == self._ids.dtype
            and count.shape == ()
            and 0 <= int(count) <= self._capacity * self.block_size
        ):
            raise GalleryFileError(self.path, f"{_UNDO} does not fit this gallery")
        self._restore(arrays)

    def _restore(self, saved: dict[str, npt.NDArray[Any]]) -> None:
        slots = saved["slots"]
        if len(slots):
            self._write(slots, saved["templates"])
            self._ids[slots] = saved["ids"]
        self._count = int(saved["count"])
        self._index = None
        self._changed()
        self.flush()
        (self.path / _UNDO).unlink(missing_ok=True)
        _sync_file(self.path)

    def stored_at(self, slots: Any) -> npt.NDArray[Any]:
        """(n, dim) copies of the stored templates of `slots`, in the gallery's dtype. Taken
        from a plain (slots, dim) view of the file: np.memmap's Python-level indexing cost
        ~10 us a call, and a (block, column) fancy index ~3x `np.take` of the same rows
        (4,000 float16 rows: 396 against 125 us)."""
        flat = self._vectors.view(np.ndarray).reshape(-1, self.dim)
        stored: npt.NDArray[Any] = np.take(flat, np.asarray(slots, np.int64), axis=0)
        return stored

    def _write(self, slots: npt.NDArray[np.int64], stored: npt.NDArray[Any]) -> None:
        blocks, columns = np.divmod(slots, self.block_size)
        self._vectors[blocks, columns] = stored
        self._norms[blocks, columns] = _half_sq_norms(stored)
        self._put_codes(blocks, columns, stored)
        for b in set(blocks.tolist()):
            self._block_versions[b] += 1

    def _put_codes(
        self,
        blocks: int | npt.NDArray[np.int64],
        columns: slice | npt.NDArray[np.int64],
        stored: npt.NDArray[Any],
    ) -> None:
        """Write the codes and terms of (n, dim) stored templates: at consecutive `columns` of
        one block, or at slots given as (block, column) arrays."""
        codes, terms = encode_templates(stored)
        # A slice between two index arrays puts the indexed axis first: (n, dim), (n, 5).
        fancy = not isinstance(columns, slice)
        if self.codes_layout is CodesLayout.ROWS:
            self._codes[blocks, columns] = as_rows(codes)
        else:
            self._codes[blocks, :, columns] = codes if fancy else codes.T
        self._terms[blocks, :, columns] = terms.T if fancy else terms

    def _changed(self) -> None:
        self.version += 1
        self._block_views = None
        self._save_header()

    def _check_batch(self, ids: list[str], vectors: Any, *, new: bool = True) -> Vectors:
        values = as_vectors(vectors, self.dim, "vectors")
        if len(values) != len(ids):
            raise InvalidArgument("ids", len(ids), f"{len(values)} vectors need as many ids")
        if new:
            seen: set[str] = set()
            for tid in ids:
                _check_id(tid, self.id_bytes)
                if tid in seen:
                    raise DuplicateId(tid)
                seen.add(tid)
        return values


def _check_id(template_id: object, id_bytes: int) -> None:
    if not isinstance(template_id, str):
        raise InvalidId(template_id, "not a str")
    if not template_id or "\x00" in template_id:
        raise InvalidId(template_id, "empty or holds NUL")
    if len(template_id.encode()) > id_bytes:
        raise InvalidId(template_id, f"longer than the gallery's {id_bytes} UTF-8 bytes")


def _encode(ids: list[str], id_bytes: int) -> npt.NDArray[np.bytes_]:
    return np.array([tid.encode() for tid in ids], dtype=f"S{id_bytes}")


def _half_sq_norms(stored: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    wide = stored.astype(np.float64)
    halves: npt.NDArray[np.float64] = 0.5 * np.einsum("ij,ij->i", wide, wide)
    return halves.astype(np.float32)


def _codes_as_columns(
    stored: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """(dim, n) codes and (TERM_ROWS, n) terms of (n, dim) stored templates."""
    codes, terms = encode_templates(stored)
    return codes.T, terms


def _upgrade(root: Path, header: dict[str, Any]) -> None:
    """Upgrade a version 1 gallery: its (dim, block) column vectors rewritten as rows into
    templates.bin, the codes written, the header rewritten, the old vectors.bin deleted. Until
    the header says version 3 the old files are untouched, so a crash leaves a version 1
    gallery that upgrades again."""
    try:
        cap, dim, block = (int(header[key]) for key in ("capacity_blocks", "dim", "block"))
        dtype = GalleryDtype(header["dtype"]).numpy
        count = int(header["count"])
    except (KeyError, ValueError, TypeError) as e:
        raise GalleryFileError(root, f"bad header: {e}") from None
    if (root / _V1_VECTORS).stat().st_size != cap * dim * block * dtype.itemsize:
        raise GalleryFileError(root, f"{_V1_VECTORS} does not match the header")
    sizes = {_VECTORS: dtype.itemsize * dim, _CODES: dim, _TERMS: TERM_ROWS * 4}
    for name, per_template in sizes.items():
        with (root / name).open("wb") as f:
            f.truncate(cap * block * per_template)
    if cap:
        old = np.memmap(root / _V1_VECTORS, dtype, "r", shape=(cap, dim, block))
        rows = np.memmap(root / _VECTORS, dtype, "r+", shape=(cap, block, dim))
        codes = np.memmap(root / _CODES, np.int8, "r+", shape=(cap, dim, block))
        terms = np.memmap(root / _TERMS, np.float32, "r+", shape=(cap, TERM_ROWS, block))
        for b in range(math.ceil(count / block)):
            width = min(block, count - b * block)
            rows[b, :width] = old[b, :, :width].T
            codes[b, :, :width], terms[b, :, :width] = _codes_as_columns(rows[b, :width])
        for array in (rows, codes, terms):
            array.flush()
        del old, rows, codes, terms
    header["version"] = FORMAT_VERSION
    header["codes_layout"] = CodesLayout.COLUMNS.value
    _write_header(root, header)
    (root / _V1_VECTORS).unlink()


def _write_header(root: Path, header: dict[str, Any]) -> None:
    # Write-then-rename, both synced: a crash or a power cut leaves the old header or the new
    # one, never half of one.
    tmp = root / (_HEADER + ".tmp")
    tmp.write_text(json.dumps(header, indent=1))
    _sync_file(tmp)
    os.replace(tmp, root / _HEADER)
    _sync_file(root)


def _sync_file(path: Path) -> None:
    """fsync a file, or a directory (its entries: a rename or a deletion in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
