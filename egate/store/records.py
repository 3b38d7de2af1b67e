"""What goes in and out of the store: small frozen records and enums, never ORM rows
(those stay inside `egate.store`). Times are timezone-aware; the store returns UTC."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from egate.documents import Sex, TravelDocument
from egate.gate import Decision, ReferralReason, State


class OperatorRole(enum.Enum):
    """What an operator token may do through the API."""

    ENROL = "enrol"  # enrol, update and erase travellers
    WATCHLIST = "watchlist"  # load watchlists and manifests
    AUDIT = "audit"  # read transactions and the audit trail
    ADMIN = "admin"  # register gates, create operators


# -- enrolment ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TravellerData:
    """The enrolled person, as the document states it."""

    surname: str
    given_names: str
    birth_date: date
    nationality: str
    sex: Sex

    @classmethod
    def from_document(cls, doc: TravelDocument) -> TravellerData:
        return cls(doc.surname, doc.given_names, doc.birth_date, doc.nationality, doc.sex)


@dataclass(frozen=True, slots=True)
class DocumentData:
    """A travel document of an enrolled traveller."""

    issuer: str
    number: str
    document_code: str
    expiry_date: date

    @classmethod
    def from_document(cls, doc: TravelDocument) -> DocumentData:
        return cls(doc.issuer, doc.number, doc.code, doc.expiry_date)


@dataclass(frozen=True, slots=True)
class TemplateData:
    """A face template to store: (D,) float vector (D = 128) and the embedder that made it."""

    embedder: str
    vector: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    """A template read back, decrypted: `vector` is (D,) float32."""

    id: int
    embedder: str
    key_id: str
    vector: npt.NDArray[np.float32]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Enrolment:
    traveller_id: str
    traveller: TravellerData
    documents: tuple[DocumentData, ...]
    templates: tuple[StoredTemplate, ...]
    created_at: datetime
    updated_at: datetime


# -- gate transactions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """One gate transaction as stored. `steps` is the JSON list of the gate's step
    records; `snapshot` the gate's resumable state (JSON), if the caller keeps it."""

    id: str
    gate_id: str
    opened_at: datetime
    state: State
    attempts: int = 0
    steps: list[Any] = field(default_factory=list)
    closed_at: datetime | None = None
    decision: Decision | None = None
    referral_reason: ReferralReason | None = None
    referral_detail: str | None = None
    document_issuer: str | None = None
    document_number: str | None = None
    snapshot: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    """Filters for `search_transactions`; all optional, combined with AND. Times are a
    half-open range [start, end) on `opened_at`. Results are newest first; pass the
    last row's (`opened_at`, `id`) as `before` to get the next page."""

    gate_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    decision: Decision | None = None
    referral_reason: ReferralReason | None = None
    document_issuer: str | None = None
    document_number: str | None = None
    before: tuple[datetime, str] | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class DecisionCount:
    """How many transactions opened in the hour starting at `hour` (UTC) ended in
    `decision` (None: still open or abandoned without one)."""

    hour: datetime
    decision: Decision | None
    count: int


# -- gates, operators, idempotency -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateRecord:
    id: str
    location: str
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    id: str
    roles: frozenset[OperatorRole]
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The response to replay for a retried request: HTTP status and body text."""

    status_code: int
    body: str


@dataclass(frozen=True, slots=True)
class IdempotentOutcome:
    """`replayed` is True when `response` was stored by an earlier request with the
    same key (this request's work was not written)."""

    response: StoredResponse
    replayed: bool


# -- watchlists and manifests ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentWatchEntry:
    """A lost, stolen or revoked document (SLTD)."""

    issuer: str
    number: str
    reason: str = "stolen"


@dataclass(frozen=True, slots=True)
class PersonWatchEntry:
    surname: str
    given_names: str
    birth_date: date | None = None
    nationality: str | None = None
    reason: str = "wanted"


@dataclass(frozen=True, slots=True)
class ManifestData:
    """A PAXLST manifest to keep: the raw EDIFACT and a JSON summary of its parse."""

    carrier: str
    flight: str
    departure_airport: str
    arrival_airport: str
    departure_time: datetime | None
    arrival_time: datetime | None
    traveller_count: int
    raw_edifact: str
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    id: int
    received_at: datetime
    data: ManifestData
