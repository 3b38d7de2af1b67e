"""The watchlists each worker screens against, in memory (dictionary look-ups and one
fuzzy name search per transaction), rebuilt from the store.

A worker rebuilds them at start, right after it loads a list itself, and when they are
older than `max_age_s`, so a list loaded through another worker applies here within
that many seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from egate.store import Store
from egate.watchlist import DocumentWatchlist, PersonEntry, PersonWatchlist, SltdStatus


@dataclass(frozen=True)
class Lists:
    documents: DocumentWatchlist
    persons: PersonWatchlist
    loaded_at: float


class ScreeningLists:
    def __init__(self, store: Store, max_age_s: float) -> None:
        self._store = store
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._lists: Lists | None = None

    def current(self) -> Lists:
        lists = self._lists
        if lists is None or time.monotonic() - lists.loaded_at > self._max_age_s:
            with self._lock:
                if self._lists is None or self._lists is lists:
                    self._lists = self._load()
                lists = self._lists
        return lists

    def invalidate(self) -> None:
        with self._lock:
            self._lists = None

    def _load(self) -> Lists:
        documents = DocumentWatchlist()
        with self._store.read() as uow:
            doc_entries = uow.watchlists.documents()
            person_entries = uow.watchlists.persons()
        for d in doc_entries:
            status = SltdStatus(d.reason) if d.reason in _STATUSES else SltdStatus.STOLEN
            documents.add(d.issuer, d.number, status)
        persons = PersonWatchlist(
            PersonEntry(
                id=f"{i}",
                surname=p.surname,
                given_names=p.given_names,
                birth_date=p.birth_date,
                nationality=p.nationality,
            )
            for i, p in enumerate(person_entries, start=1)
        )
        return Lists(documents, persons, time.monotonic())


_STATUSES = frozenset(s.value for s in SltdStatus)
