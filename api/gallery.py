"""The face watchlist gallery of the deployment: one memory-mapped matcher gallery on
disk, shared by every worker of the host.

The matcher's gallery is safe for threads, not for several writing processes, so
writes take an exclusive `flock` on a lock file beside it; readers reopen the gallery
when its header changed (one `stat` per search).
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from biometrics.matcher import Gallery, MemoryLockRefused, Searcher
from biometrics.matcher.codes import CodesLayout
from egate.watchlist import FaceHit, FaceWatchlist

log = logging.getLogger(__name__)

_HEADER = "gallery.json"  # the matcher gallery's header file, replaced on every change


class FaceGallery:
    def __init__(
        self, path: Path, codes_layout: CodesLayout | None = None, *, lock_memory: bool = False
    ) -> None:
        self.path = path
        # For a gallery this creates (None: the host's, codes.preferred_layout).
        self.codes_layout = codes_layout
        # Lock the gallery's files in RAM as each worker maps them (Gallery.lock_memory).
        self.lock_memory = lock_memory
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._gallery: Gallery | None = None
        self._searcher: Searcher | None = None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _current(self) -> tuple[Gallery, Searcher] | None:
        header = self.path / _HEADER
        try:
            st = header.stat()
            # The header is replaced by rename on every change: a new inode each time,
            # even when the file system's clock is too coarse to change mtime.
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None
        with self._lock:
            if stamp != self._stamp or self._gallery is None or self._searcher is None:
                if self._gallery is not None:
                    self._gallery.close()
                self._gallery = Gallery.open(self.path)
                if self.lock_memory:
                    self._lock_in_ram(self._gallery)
                self._searcher = Searcher(self._gallery, threads=1)
                self._stamp = stamp
            return self._gallery, self._searcher

    @staticmethod
    def _lock_in_ram(gallery: Gallery) -> None:
        """Locks the gallery in RAM; a refusal is logged and the screening goes on unlocked,
        slower only where the kernel reclaims its pages."""
        try:
            locked = gallery.lock_memory()
        except MemoryLockRefused as refused:
            log.error("face gallery left unlocked: %s", refused)
            return
        log.info("face gallery %s: %d bytes locked in RAM", gallery.path, locked)

    def __len__(self) -> int:
        current = self._current()
        return 0 if current is None else len(current[0])

    def add(self, ids: Sequence[str], vectors: npt.NDArray[np.float32], *, replace: bool) -> None:
        """Add (or, with `replace`, overwrite) watched faces; all or nothing."""
        with self._exclusive():
            if (self.path / _HEADER).exists():
                gallery = Gallery.open(self.path)
            else:
                gallery = Gallery.create(self.path, codes_layout=self.codes_layout)
            try:
                # One change either way: an id the gallery refuses never costs a watched face
                # that the same request would have replaced.
                if replace:
                    gallery.upsert(list(ids), vectors)
                else:
                    gallery.add(list(ids), vectors)
            finally:
                gallery.close()

    def watchlist(self, threshold: float) -> FaceWatchlist | None:
        """The face watchlist to screen live captures against; None while it is empty."""
        current = self._current()
        if current is None or len(current[0]) == 0:
            return None
        return FaceWatchlist(current[1], threshold=threshold)

    def search(
        self, embeddings: npt.NDArray[np.float32], *, threshold: float, k: int
    ) -> list[list[FaceHit]]:
        current = self._current()
        if current is None or len(current[0]) == 0:
            return [[] for _ in range(len(embeddings))]
        return FaceWatchlist(current[1], threshold=threshold).search(embeddings, k=k)

    def close(self) -> None:
        with self._lock:
            if self._gallery is not None:
                self._gallery.close()
            self._gallery = self._searcher = None
