"""Screening lists: stolen and lost travel documents (exact, by issuer and
number), wanted persons (fuzzy, by name and birth date) and faces (1:N
through the matcher)."""

from __future__ import annotations

import csv
import enum
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from egate import EgateError
from egate.names import spellings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from biometrics.matcher import Searcher


class WatchlistEntryError(EgateError):
    """A watchlist entry (or CSV row) cannot be used; carries the value and, for CSV, the line."""

    code = "watchlist_entry_invalid"

    def __init__(self, reason: str, value: object, line: int | None = None) -> None:
        self.reason = reason
        self.value = value
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{reason}: {value!r}")


# --- stolen and lost travel documents ------------------------------------------


class SltdStatus(enum.Enum):
    """Why the document is listed (INTERPOL SLTD record types)."""

    STOLEN = "stolen"
    LOST = "lost"
    REVOKED = "revoked"
    STOLEN_BLANK = "stolen_blank"


@dataclass(frozen=True, slots=True)
class SltdHit:
    issuer: str
    number: str
    status: SltdStatus


CSV_BLOCK_BYTES = 8 << 20  # bytes of CSV read and normalised at a time (~200k rows)
_NUMBER_NOISE = str.maketrans("", "", " -<./")


def document_key(issuer: str, number: str) -> str:
    """The normalised key of a document: issuer padded to three characters
    with `<` (as in the MRZ: `D<<`), then the number in upper case without
    spaces, hyphens or fillers. "" when either part is empty."""
    issuer = issuer.strip().upper()
    number = number.upper().translate(_NUMBER_NOISE)
    if not issuer or not number or len(issuer) > 3:
        return ""
    return issuer.ljust(3, "<") + number


class DocumentWatchlist:
    """Stolen and lost documents, as a hash map from `document_key` to status:
    one hash and one probe per lookup whatever the size (about 100 bytes a
    record in CPython; 10 million records take about 1 GiB)."""

    def __init__(self) -> None:
        self._index: dict[str, SltdStatus] = {}

    def __len__(self) -> int:
        return len(self._index)

    def add(self, issuer: str, number: str, status: SltdStatus = SltdStatus.STOLEN) -> None:
        key = document_key(issuer, number)
        if not key:
            raise WatchlistEntryError(
                "document needs an issuer of 1-3 letters and a number", (issuer, number)
            )
        self._index[key] = status

    def hit(self, issuer: str, number: str) -> SltdHit | None:
        """The record for this document, or None. O(1): one dict probe."""
        key = document_key(issuer, number)
        status = self._index.get(key) if key else None
        return None if status is None else SltdHit(key[:3], key[3:], status)

    def load_csv(self, path: str | os.PathLike[str]) -> int:
        """Add every row of a CSV with a header `issuer,number[,status]`
        (status one of `SltdStatus` values, default stolen). Returns the
        number of distinct documents read; a bad row raises with its line
        number (header = line 1) and nothing of the file is kept.

        The file is streamed in blocks that pyarrow reads and normalises,
        leaving building the dict as the main cost (benchmarks/bench_apis.py);
        rows with non-ASCII text go through `document_key` itself so the keys
        agree."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        with open(path, newline="", encoding="utf-8") as f:
            header = [h.strip().lower() for h in next(csv.reader(f), [])]
        if header[:2] != ["issuer", "number"]:
            raise WatchlistEntryError("CSV header must start issuer,number", header, 1)
        with_status = len(header) > 2 and header[2] == "status"
        names = [f"c{i}" for i in range(len(header))]
        added: dict[str, SltdStatus] = {}
        line = 2
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=8 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
                ),
            )
            for batch in reader:
                added.update(_sltd_batch(batch, with_status, line))
                line += batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise WatchlistEntryError("unreadable SLTD CSV", str(e).splitlines()[0]) from e
        if self._index:
            self._index.update(added)
        else:  # no second copy of a large list
            self._index = added
        return len(added)


def _sltd_batch(batch: Any, with_status: bool, first_line: int) -> dict[str, SltdStatus]:
    """Keys and statuses of one pyarrow RecordBatch (columns c0 issuer, c1 number, c2 status)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    issuer = pc.utf8_upper(pc.utf8_trim_whitespace(batch["c0"]))
    issuer_length = pc.utf8_length(issuer)
    number = pc.replace_substring_regex(
        pc.utf8_upper(batch["c1"]), pattern=r"[ \-<./]", replacement=""
    )
    keys = pc.binary_join_element_wise(pc.utf8_rpad(issuer, width=3, padding="<"), number, "")
    bad = pc.or_(
        pc.or_(pc.less(issuer_length, 1), pc.greater(issuer_length, 3)),
        pc.equal(pc.utf8_length(number), 0),
    )
    members = list(SltdStatus)
    status_index: list[int] = [0] * batch.num_rows  # STOLEN
    status_bad = pc.equal(issuer_length, -1)  # all False
    if with_status:
        status = pc.utf8_lower(pc.utf8_trim_whitespace(batch["c2"]))
        position = pc.index_in(status, pa.array([m.value for m in members]))
        status_bad = pc.is_null(position)
        status_index = pc.fill_null(position, 0).to_numpy().tolist()
    ascii_rows = pc.and_(pc.string_is_ascii(batch["c0"]), pc.string_is_ascii(batch["c1"]))
    # numpy's tolist() makes the Python strings faster than to_pylist().
    key_list: list[str] = keys.to_numpy(zero_copy_only=False).tolist()
    bad_rows = pc.indices_nonzero(pc.and_(pc.or_(bad, status_bad), ascii_rows)).to_pylist()
    for row in pc.indices_nonzero(pc.invert(ascii_rows)).to_pylist():
        key_list[row] = document_key(batch["c0"][row].as_py(), batch["c1"][row].as_py())
        if not key_list[row] or status_bad[row].as_py():
            bad_rows.append(row)
    if bad_rows:
        row = min(bad_rows)
        values = [column[row].as_py() for column in batch.columns]
        raise WatchlistEntryError("unusable SLTD row", values, first_line + row)
    return dict(zip(key_list, map(members.__getitem__, status_index), strict=True))


# --- persons -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonEntry:
    """A wanted or refused person. `birth_year` when only the year is known."""

    id: str
    surname: str
    given_names: str = ""
    birth_date: date | None = None
    birth_year: int | None = None
    nationality: str | None = None


class HitReason(enum.Enum):
    NAME_EXACT = "name_exact"  # same tokens, in any order, after transliteration
    NAME_FUZZY = "name_fuzzy"
    BIRTH_DATE_EXACT = "birth_date_exact"
    BIRTH_YEAR_ONLY = "birth_year_only"  # the list knows only the year, and it agrees
    BIRTH_DAY_MONTH_SWAPPED = "birth_day_month_swapped"
    BIRTH_DATE_CLOSE = "birth_date_close"  # one field off (typo, or year +-1)
    BIRTH_DATE_UNKNOWN = "birth_date_unknown"
    BIRTH_DATE_DIFFERS = "birth_date_differs"


# Multipliers of the name score (0-100) by how the birth dates agree.
_DATE_FACTOR = {
    HitReason.BIRTH_DATE_EXACT: 1.0,
    HitReason.BIRTH_YEAR_ONLY: 0.95,
    HitReason.BIRTH_DAY_MONTH_SWAPPED: 0.95,
    HitReason.BIRTH_DATE_CLOSE: 0.9,
    HitReason.BIRTH_DATE_UNKNOWN: 0.9,
    HitReason.BIRTH_DATE_DIFFERS: 0.5,
}
# A name whose tokens contain the other's (a middle name missing) scores a little lower.
_SUBSET_WEIGHT = 0.95


@dataclass(frozen=True, slots=True)
class PersonHit:
    """`score` = name score (0-100, order-insensitive) x birth-date factor."""

    entry: PersonEntry
    score: float
    name_score: float
    reasons: tuple[HitReason, ...]


class PersonWatchlist:
    """Fuzzy name + birth date screening (rapidfuzz over transliterated names).

    `threshold` (0-100) is the lowest score reported; 85 lets an exact name
    with an unknown birth date through (90) and stops an exact name with a
    different birth date (50).
    """

    def __init__(self, entries: Iterable[PersonEntry] = (), *, threshold: float = 85.0) -> None:
        if not 0 <= threshold <= 100:
            raise WatchlistEntryError("threshold must be within 0-100", threshold)
        self.threshold = threshold
        self._entries: list[PersonEntry] = []
        self._names: list[str] = []  # token-sorted spellings
        self._owner: list[int] = []  # entry index of each spelling
        self._by_year: dict[int | None, list[int]] = defaultdict(list)  # birth year -> spellings
        for entry in entries:
            self.add(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: PersonEntry) -> None:
        names = _name_spellings(entry.surname, entry.given_names)
        if not names:
            raise WatchlistEntryError("person entry without a usable name", entry)
        year = entry.birth_date.year if entry.birth_date else entry.birth_year
        for name in names:
            self._by_year[year].append(len(self._names))
            self._names.append(name)
            self._owner.append(len(self._entries))
        self._entries.append(entry)

    def search(
        self,
        surname: str,
        given_names: str = "",
        birth_date: date | None = None,
        *,
        threshold: float | None = None,
        limit: int = 10,
    ) -> list[PersonHit]:
        """Entries scoring at least `threshold` (default: the list's), best first."""
        threshold = self.threshold if threshold is None else threshold
        best: dict[int, float] = {}
        block = self._block(birth_date, threshold)
        names = self._names if block is None else [self._names[i] for i in block]
        for query in _name_spellings(surname, given_names):
            for index, score in _name_candidates(query, names, threshold):
                owner = self._owner[index if block is None else block[index]]
                best[owner] = max(best.get(owner, 0.0), score)
        hits = []
        for owner, name_score in best.items():
            entry = self._entries[owner]
            date_reason = _birth_agreement(entry, birth_date)
            score = name_score * _DATE_FACTOR[date_reason]
            if score >= threshold:
                name_reason = HitReason.NAME_EXACT if name_score == 100 else HitReason.NAME_FUZZY
                hits.append(PersonHit(entry, score, name_score, (name_reason, date_reason)))
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        return hits[:limit]

    def _block(self, birth: date | None, threshold: float) -> list[int] | None:
        """Spellings that can reach `threshold` given the birth date: when a
        different birth date cannot (its factor caps the score below it),
        only entries born within a year of `birth` or of unknown birth. None: all."""
        if birth is None or threshold <= 100 * _DATE_FACTOR[HitReason.BIRTH_DATE_DIFFERS]:
            return None
        years = (None, birth.year - 1, birth.year, birth.year + 1)
        return sorted(i for year in years for i in self._by_year.get(year, ()))


def _name_spellings(surname: str, given_names: str) -> list[str]:
    names = []
    for spelling in spellings(f"{surname} {given_names}"):
        tokens = " ".join(sorted(spelling.split()))
        if tokens and tokens not in names:
            names.append(tokens)
    return names


def _name_candidates(query: str, names: Sequence[str], threshold: float) -> list[tuple[int, float]]:
    """(index, name score) of names at least `threshold` alike: token-sorted
    ratio, or the token-set ratio (one name's tokens within the other's) when
    both names have two tokens or more, weighted by `_SUBSET_WEIGHT`."""
    found = {
        index: score
        for _, score, index in process.extract(
            query, names, scorer=fuzz.ratio, score_cutoff=threshold, limit=None
        )
    }
    if query.count(" ") >= 1:
        for name, score, index in process.extract(
            query,
            names,
            scorer=fuzz.token_set_ratio,
            score_cutoff=threshold / _SUBSET_WEIGHT,
            limit=None,
        ):
            if name.count(" ") >= 1:
                found[index] = max(found.get(index, 0.0), score * _SUBSET_WEIGHT)
    return list(found.items())


def _birth_agreement(entry: PersonEntry, birth: date | None) -> HitReason:
    listed = entry.birth_date
    if birth is None or (listed is None and entry.birth_year is None):
        return HitReason.BIRTH_DATE_UNKNOWN
    if listed is None:
        return (
            HitReason.BIRTH_YEAR_ONLY
            if entry.birth_year == birth.year
            else HitReason.BIRTH_DATE_DIFFERS
        )
    if listed == birth:
        return HitReason.BIRTH_DATE_EXACT
    if (listed.year, listed.month, listed.day) == (birth.year, birth.day, birth.month):
        return HitReason.BIRTH_DAY_MONTH_SWAPPED
    same = (listed.year == birth.year, listed.month == birth.month, listed.day == birth.day)
    if sum(same) == 2 and (same[0] or abs(listed.year - birth.year) == 1):
        return HitReason.BIRTH_DATE_CLOSE
    return HitReason.BIRTH_DATE_DIFFERS


# --- faces -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaceHit:
    """A gallery identity within `distance` (dlib Euclidean, lower = closer)."""

    id: str
    distance: float


class FaceWatchlist:
    """1:N face screening: the matcher's `Searcher` over a gallery of watched
    faces, reporting only hits at or under `threshold` (distance)."""

    def __init__(self, searcher: Searcher, *, threshold: float = 0.6) -> None:
        self.searcher = searcher
        self.threshold = threshold

    def add(self, ids: Sequence[str], embeddings: npt.NDArray[np.float32]) -> None:
        """Watch these faces ((N, 128) float32 embeddings) under these ids."""
        self.searcher.gallery.add(ids, embeddings)

    def remove(self, ids: Sequence[str]) -> None:
        self.searcher.gallery.remove(ids)

    def __len__(self) -> int:
        return len(self.searcher.gallery)

    def search(self, embeddings: npt.NDArray[np.float32], *, k: int = 5) -> list[list[FaceHit]]:
        """For each query ((B, 128) float32), the watched identities within
        the threshold, closest first."""
        results = self.searcher.search(embeddings, k=k, threshold=self.threshold)
        return [[FaceHit(h.id, float(h.distance)) for h in hits] for hits in results]
