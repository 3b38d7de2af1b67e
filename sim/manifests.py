"""Arrivals from PAXLST manifests: a directory of real UN/EDIFACT files, parsed by
`egate.paxlst`, giving the actual travellers of each flight.

Each file holds one flight's manifest (all its parts). Passengers (NAD+FL) come
through the hall; crew use the crew channel and travellers in transit stay airside,
so both are left out. The flight's arrival time (DTM+232) is its scheduled on-block;
punctuality, deplaning and the walk to the hall apply as for a flight schedule.
Nationality, age (on the arrival date) and document type come from the manifest;
what a manifest does not say (enrolment, and watchlist hits unless an SLTD list is
given) is drawn from the traveller mix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from egate.manifest import Manifest
from sim.arrivals import ArrivalsError, Deplaning, Punctuality, Stand
from sim.streams import Source, Streams
from sim.travellers import TravellerMix, Travellers, group_of

_UNB = re.compile(r"(?:^|(?<=['\n]))\s*(UNA.{6})?\s*UNB\+", re.S)


def split_interchanges(text: str) -> list[str]:
    """The interchanges (UNA? UNB ... UNZ) in `text`, in order: a multi-part manifest sent
    as several interchanges may sit in one file, one after the other."""
    starts = [m.start() for m in _UNB.finditer(text)]
    if len(starts) <= 1:
        return [text]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def read_manifests(directory: Path) -> list[Manifest]:
    """Every manifest file in `directory` (sorted by name; hidden files skipped), one
    manifest a file, its parts in one interchange or in consecutive interchanges;
    raises ArrivalsError naming the file and the PAXLST segment at fault."""
    from egate.paxlst import PaxlstError, parse_paxlst, parse_paxlst_parts

    if not directory.is_dir():
        raise ArrivalsError(str(directory), str(directory), "not a directory of PAXLST files")
    manifests = []
    for path in sorted(
        p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
    ):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ArrivalsError(path.name, path.name, f"cannot read: {exc}") from None
        parts = split_interchanges(text)
        try:
            manifests.append(
                parse_paxlst(parts[0]) if len(parts) == 1 else parse_paxlst_parts(parts)
            )
        except PaxlstError as exc:
            raise ArrivalsError(path.name, exc.tag, f"not a valid PAXLST manifest: {exc}") from None
    if not manifests:
        raise ArrivalsError(str(directory), 0, "no PAXLST files in the directory")
    return manifests


@dataclass(frozen=True)
class ManifestSource:
    """Arrivals from parsed manifests (`read_manifests`); `sltd` an optional CSV of stolen
    and lost documents (issuer,number[,status]) whose holders go to secondary inspection."""

    manifests: tuple[Manifest, ...]
    stand: Stand = Stand.CONTACT
    punctuality: Punctuality = field(default_factory=Punctuality)
    deplaning: Deplaning = field(default_factory=Deplaning)
    sltd: Path | None = None

    def travellers(self, streams: Streams, mix: TravellerMix, scale: float) -> Travellers:
        return manifest_arrivals(self.manifests, streams, mix=mix, source=self)


def manifest_arrivals(
    manifests: Sequence[Manifest], streams: Streams, *, mix: TravellerMix, source: ManifestSource
) -> Travellers:
    """Travellers of `manifests` reaching the hall, times in seconds from midnight of the
    earliest arrival date among the manifests."""
    from egate.manifest import DocumentCode, TravellerRole
    from egate.watchlist import DocumentWatchlist

    sltd = DocumentWatchlist()
    if source.sltd is not None:
        sltd.load_csv(source.sltd)
    rng = streams[Source.ARRIVALS]
    day = min(m.arrival_time.date() for m in manifests)
    midnight = datetime.combine(day, datetime.min.time())
    passengers = [[t for t in m.travellers if t.role is TravellerRole.PASSENGER] for m in manifests]
    counts = np.array([len(p) for p in passengers], dtype=np.int64)
    scheduled = np.array([(m.arrival_time - midnight).total_seconds() for m in manifests])
    on_block = scheduled + source.punctuality.delays_s(rng, len(manifests))
    hall_s, flight = source.deplaning.hall_times_s(
        rng, on_block, [source.stand] * len(manifests), counts
    )
    drawn = mix.draw(streams[Source.TRAVELLERS], hall_s, flight)
    everyone = [(m, t) for m, group in zip(manifests, passengers, strict=True) for t in group]
    group, nationality = drawn.group.copy(), drawn.nationality.copy()
    age, document, watchlist = drawn.age.copy(), drawn.document.copy(), drawn.watchlist.copy()
    for i, (m, t) in enumerate(everyone):
        doc = t.document
        state = t.nationality or (doc.issuer if doc else None)
        if state:
            nationality[i] = state
            group[i] = group_of(state, mix.home)
        if t.birth_date is not None:
            on = m.arrival_time.date()
            age[i] = (
                on.year
                - t.birth_date.year
                - ((on.month, on.day) < (t.birth_date.month, t.birth_date.day))
            )
        if doc is not None:
            document[i] = 1 if doc.code is DocumentCode.IDENTITY_CARD else 0
            if source.sltd is not None:
                watchlist[i] = (
                    doc.issuer is not None and sltd.hit(doc.issuer, doc.number) is not None
                )
    return Travellers(
        arrival_s=hall_s,
        flight=flight,
        group=group,
        nationality=nationality,
        age=age,
        enrolled=drawn.enrolled,
        document=document,
        watchlist=watchlist,
    ).sorted()
