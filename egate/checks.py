"""The production checks a `Crossing` runs before the face: the document and the screening.

Both are plain callables over in-memory structures built once (a CSCA store, watchlists
loaded at start-up and refreshed on each load), so a transaction costs dictionary
look-ups and one fuzzy name search, never a table scan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from egate.chip import ChipData, ChipFailure, verify_chip
from egate.crossing import DocumentRead
from egate.csca import CscaStore
from egate.documents import TravelDocument
from egate.gate import DocumentFinding, Finding, ScreeningFinding
from egate.watchlist import DocumentWatchlist, PersonWatchlist

_DG1_FAILURES = frozenset({ChipFailure.DG1_MRZ_MISMATCH, ChipFailure.DG1_MALFORMED})


class StandardDocumentChecks:
    """Expiry, and for a chip that was read: passive authentication against `csca` and
    DG1 against the printed MRZ (Doc 9303 part 11). An empty CSCA store fails every
    chip as UNKNOWN_CSCA: a gate that cannot authenticate a chip must not trust it."""

    def __init__(self, csca: CscaStore | None = None) -> None:
        self.csca = csca if csca is not None else CscaStore()

    def __call__(self, read: DocumentRead, now: datetime) -> list[Finding]:
        findings = []
        if read.document.is_expired(now.date()):
            findings.append(Finding(DocumentFinding.EXPIRED, read.document.expiry_date.isoformat()))
        if read.dg1 is not None and read.sod is not None:
            chip = ChipData(read.dg1, read.dg2 or b"", read.sod)
            verification = verify_chip(chip, read.document, self.csca, at=now)
            for result in verification.checks:
                if result.failure is None:
                    continue
                code = (
                    DocumentFinding.DG1_MRZ_MISMATCH
                    if result.failure in _DG1_FAILURES
                    else DocumentFinding.CHIP_INVALID
                )
                findings.append(Finding(code, f"{result.failure.value}: {result.detail}"))
        return findings


class WatchlistScreening:
    """Stolen/lost documents (exact), watched persons (fuzzy name + birth date) and,
    when `on_manifest` is given, the advance passenger information: a traveller
    absent from every manifest expected at this border is referred."""

    def __init__(
        self,
        *,
        documents: DocumentWatchlist,
        persons: PersonWatchlist,
        on_manifest: Callable[[TravelDocument], bool] | None = None,
    ) -> None:
        self.documents = documents
        self.persons = persons
        self.on_manifest = on_manifest

    def __call__(self, document: TravelDocument) -> list[Finding]:
        findings = []
        sltd = self.documents.hit(document.issuer, document.number)
        if sltd is not None:
            findings.append(Finding(ScreeningFinding.SLTD_HIT, sltd.status.value))
        for hit in self.persons.search(document.surname, document.given_names, document.birth_date):
            reasons = ",".join(r.value for r in hit.reasons)
            detail = f"entry {hit.entry.id} score {hit.score:.0f} ({reasons})"
            findings.append(Finding(ScreeningFinding.PERSON_WATCHLIST_HIT, detail))
        if self.on_manifest is not None and not self.on_manifest(document):
            findings.append(Finding(ScreeningFinding.NOT_ON_MANIFEST))
        return findings
