"""Manifest against border crossings for one flight: who was announced and
crossed, who was announced and did not cross, who crossed unannounced.

Matching is by document (issuer, number) first, then, for what is left, by
transliterated name tokens (any order) and birth date; each traveller and
each crossing is used at most once.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from egate.documents import TravelDocument
from egate.manifest import Manifest, ManifestTraveller
from egate.names import transliterate
from egate.watchlist import document_key

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CrossingRecord:
    """One traveller through border control (gate or desk), as the document was read."""

    issuer: str
    number: str
    surname: str
    given_names: str
    birth_date: date | None
    at: datetime | None = None
    checkpoint: str = ""

    @classmethod
    def from_document(
        cls, doc: TravelDocument, at: datetime | None = None, checkpoint: str = ""
    ) -> CrossingRecord:
        return cls(
            doc.issuer, doc.number, doc.surname, doc.given_names, doc.birth_date, at, checkpoint
        )


class MatchBasis(enum.Enum):
    DOCUMENT = "document"  # same issuer and number
    NAME_AND_BIRTH_DATE = "name_and_birth_date"  # another document, same person


@dataclass(frozen=True, slots=True)
class Matched:
    traveller: ManifestTraveller
    crossing: CrossingRecord
    basis: MatchBasis


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The three groups, each in input order."""

    crossed_on_manifest: tuple[Matched, ...]
    manifest_not_crossed: tuple[ManifestTraveller, ...]
    crossed_not_on_manifest: tuple[CrossingRecord, ...]


def reconcile(manifest: Manifest, crossings: Iterable[CrossingRecord]) -> Reconciliation:
    """Match the manifest's travellers with `crossings` (see the module docstring)."""
    crossings = list(crossings)
    travellers = list(manifest.travellers)
    pairs: dict[int, tuple[int, MatchBasis]] = {}  # crossing index -> (traveller index, basis)
    documents = [[document_key(d.issuer or "", d.number) for d in t.documents] for t in travellers]
    crossing_documents = [[document_key(c.issuer, c.number)] for c in crossings]
    _pair(documents, crossing_documents, pairs, MatchBasis.DOCUMENT)
    persons = [[_person(t.surname, t.given_names, t.birth_date)] for t in travellers]
    crossing_persons = [[_person(c.surname, c.given_names, c.birth_date)] for c in crossings]
    _pair(persons, crossing_persons, pairs, MatchBasis.NAME_AND_BIRTH_DATE)
    taken = {t_index for t_index, _ in pairs.values()}
    matched = tuple(
        Matched(travellers[pairs[c][0]], crossings[c], pairs[c][1]) for c in sorted(pairs)
    )
    return Reconciliation(
        crossed_on_manifest=matched,
        manifest_not_crossed=tuple(t for i, t in enumerate(travellers) if i not in taken),
        crossed_not_on_manifest=tuple(c for i, c in enumerate(crossings) if i not in pairs),
    )


def _pair(
    traveller_keys: Sequence[Sequence[K | None]],
    crossing_keys: Sequence[Sequence[K | None]],
    pairs: dict[int, tuple[int, MatchBasis]],
    basis: MatchBasis,
) -> None:
    """Pair still-unpaired crossings with still-unpaired travellers sharing a
    key (None and "" never match), first come first served, in place."""
    taken = {t_index for t_index, _ in pairs.values()}
    index: dict[K, list[int]] = defaultdict(list)
    for t_index, keys in enumerate(traveller_keys):
        for key in keys:
            if key and t_index not in taken:
                index[key].append(t_index)
    for c_index, keys in enumerate(crossing_keys):
        if c_index in pairs:
            continue
        free = (t for key in keys if key for t in index.get(key, ()) if t not in taken)
        found = next(free, None)
        if found is not None:
            pairs[c_index] = (found, basis)
            taken.add(found)


def _person(surname: str, given_names: str, birth: date | None) -> tuple[str, date] | None:
    """Order-insensitive transliterated name with the birth date; None without a birth date."""
    if birth is None:
        return None
    return " ".join(sorted(transliterate(f"{surname} {given_names}").split())), birth
