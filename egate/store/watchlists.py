"""Watchlists (SLTD documents, persons) and PAXLST manifests as loaded by operators.

A watchlist load replaces the whole named list in one database transaction and
appends one audit record with the entry count and a SHA-256 of the entries (the
entries themselves stay out of the immutable log)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from egate.audit import AuditAction
from egate.store.audit_log import AuditLog
from egate.store.errors import NotFound
from egate.store.models import ManifestRow, WatchlistDocument, WatchlistPerson
from egate.store.records import DocumentWatchEntry, ManifestData, ManifestRecord, PersonWatchEntry


class Watchlists:
    def __init__(self, session: Session, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self._session, self._audit, self._clock = session, audit, clock

    def load_documents(
        self, list_name: str, entries: Sequence[DocumentWatchEntry], *, actor: str
    ) -> int:
        """Replace list `list_name` with `entries` (duplicates collapse); returns its size."""
        unique = {(e.issuer, e.number): e for e in entries}
        now = self._clock()
        self._session.execute(
            delete(WatchlistDocument).where(WatchlistDocument.list_name == list_name)
        )
        if unique:
            self._session.execute(
                insert(WatchlistDocument),
                [
                    {
                        "list_name": list_name,
                        "issuer": e.issuer,
                        "number": e.number,
                        "reason": e.reason,
                        "loaded_at": now,
                    }
                    for e in unique.values()
                ],
            )
        digest = _digest(sorted([e.issuer, e.number, e.reason] for e in unique.values()))
        self._audit.append(
            actor,
            AuditAction.WATCHLIST_LOAD,
            f"documents:{list_name}",
            {"kind": "documents", "entries": len(unique), "sha256": digest},
        )
        return len(unique)

    def load_persons(
        self, list_name: str, entries: Sequence[PersonWatchEntry], *, actor: str
    ) -> int:
        """Replace list `list_name` with `entries`; returns its size."""
        now = self._clock()
        self._session.execute(delete(WatchlistPerson).where(WatchlistPerson.list_name == list_name))
        if entries:
            self._session.execute(
                insert(WatchlistPerson),
                [
                    {
                        "list_name": list_name,
                        "surname": e.surname,
                        "given_names": e.given_names,
                        "birth_date": e.birth_date,
                        "nationality": e.nationality,
                        "reason": e.reason,
                        "loaded_at": now,
                    }
                    for e in entries
                ],
            )
        digest = _digest(
            sorted(
                [e.surname, e.given_names, str(e.birth_date), str(e.nationality), e.reason]
                for e in entries
            )
        )
        self._audit.append(
            actor,
            AuditAction.WATCHLIST_LOAD,
            f"persons:{list_name}",
            {"kind": "persons", "entries": len(entries), "sha256": digest},
        )
        return len(entries)

    def documents(self, list_name: str | None = None) -> list[DocumentWatchEntry]:
        query = select(WatchlistDocument.issuer, WatchlistDocument.number, WatchlistDocument.reason)
        if list_name is not None:
            query = query.where(WatchlistDocument.list_name == list_name)
        rows = self._session.execute(query.order_by(WatchlistDocument.id))
        return [DocumentWatchEntry(*row) for row in rows]

    def persons(self, list_name: str | None = None) -> list[PersonWatchEntry]:
        p = WatchlistPerson
        query = select(p.surname, p.given_names, p.birth_date, p.nationality, p.reason)
        if list_name is not None:
            query = query.where(p.list_name == list_name)
        return [PersonWatchEntry(*row) for row in self._session.execute(query.order_by(p.id))]


class Manifests:
    def __init__(self, session: Session, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self._session, self._audit, self._clock = session, audit, clock

    def save(self, data: ManifestData, *, actor: str) -> ManifestRecord:
        row = ManifestRow(
            carrier=data.carrier,
            flight=data.flight,
            departure_airport=data.departure_airport,
            arrival_airport=data.arrival_airport,
            departure_time=data.departure_time,
            arrival_time=data.arrival_time,
            traveller_count=data.traveller_count,
            raw_edifact=data.raw_edifact,
            summary=data.summary,
            received_at=self._clock(),
        )
        self._session.add(row)
        self._session.flush()
        self._audit.append(
            actor,
            AuditAction.MANIFEST_LOAD,
            f"manifest:{row.id}",
            {
                "carrier": data.carrier,
                "flight": data.flight,
                "travellers": data.traveller_count,
                "sha256": hashlib.sha256(data.raw_edifact.encode()).hexdigest(),
            },
        )
        return _manifest(row)

    def get(self, manifest_id: int) -> ManifestRecord:
        row = self._session.get(ManifestRow, manifest_id)
        if row is None:
            raise NotFound("manifest", str(manifest_id))
        return _manifest(row)

    def find(self, carrier: str, flight: str) -> list[ManifestRecord]:
        """Every manifest of a flight number, newest departure first."""
        rows = self._session.scalars(
            select(ManifestRow)
            .where(ManifestRow.carrier == carrier, ManifestRow.flight == flight)
            .order_by(ManifestRow.departure_time.desc(), ManifestRow.id.desc())
        )
        return [_manifest(row) for row in rows]


def _digest(rows: object) -> str:
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _manifest(row: ManifestRow) -> ManifestRecord:
    data = ManifestData(
        row.carrier,
        row.flight,
        row.departure_airport,
        row.arrival_airport,
        row.departure_time,
        row.arrival_time,
        row.traveller_count,
        row.raw_edifact,
        dict(row.summary),
    )
    return ManifestRecord(row.id, row.received_at, data)
