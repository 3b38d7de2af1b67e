"""A flight's advance passenger information, as PAXLST carries it (WCO/IATA/ICAO
API Guidelines): the flight, its route and times, and each traveller with
their documents. Independent of the EDIFACT syntax (see `egate.paxlst`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

from egate.documents import Sex, TravelDocument


class TravellerRole(enum.Enum):
    """NAD party qualifier of a traveller."""

    PASSENGER = "FL"
    CREW = "FM"
    TRANSIT = "DDU"  # passenger in transit
    TRANSIT_CREW = "DDT"  # crew member in transit


class ManifestKind(enum.Enum):
    """BGM document name code: a passenger list or a crew list."""

    PASSENGER = "745"
    CREW = "250"


class DocumentCode(enum.Enum):
    """DOC document name code (code list of the API Guidelines, IATA variant)."""

    PASSPORT = "P"
    VISA = "V"
    IDENTITY_CARD = "I"
    PASSPORT_CARD = "IP"
    RESIDENT_ALIEN_CARD = "A"
    PERMANENT_RESIDENT_CARD = "C"
    CREW_MEMBER_CERTIFICATE = "AC"
    FACILITATION_DOCUMENT = "F"
    MILITARY_ID = "M"
    REFUGEE_TRAVEL_DOCUMENT = "T"
    OTHER = "Z"

    @property
    def is_visa(self) -> bool:
        return self is DocumentCode.VISA


@dataclass(frozen=True, slots=True)
class ManifestDocument:
    """A DOC segment group: document code, number, expiry (DTM+36), issuing state (LOC+91)."""

    code: DocumentCode
    number: str
    issuer: str | None = None  # ICAO 9303 three-letter code
    expiry_date: date | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        """(issuer, number) as SLTD indexes it, or None without an issuer."""
        return None if self.issuer is None else (self.issuer, self.number)

    def is_expired(self, on: date) -> bool:
        """True when expired on `on` (the expiry day itself is still valid); False if unknown."""
        return self.expiry_date is not None and on > self.expiry_date


@dataclass(frozen=True, slots=True)
class ManifestTraveller:
    """One traveller's NAD segment group. Names are as sent (normally upper case)."""

    role: TravellerRole
    surname: str
    given_names: str = ""
    sex: Sex | None = None
    birth_date: date | None = None
    nationality: str | None = None  # NAT+2, three-letter code
    documents: tuple[ManifestDocument, ...] = ()
    embarkation: str | None = None  # LOC+178, IATA airport code
    debarkation: str | None = None  # LOC+179
    pnr: str | None = None  # RFF+AVF, booking reference
    reference: str | None = None  # RFF+ABO, the carrier's traveller reference

    @property
    def document(self) -> ManifestDocument | None:
        """The travel document proper: the first document that is not a visa."""
        return next((d for d in self.documents if not d.code.is_visa), None)

    @property
    def visas(self) -> tuple[ManifestDocument, ...]:
        return tuple(d for d in self.documents if d.code.is_visa)

    @classmethod
    def from_document(
        cls,
        doc: TravelDocument,
        role: TravellerRole = TravellerRole.PASSENGER,
        *,
        visas: tuple[ManifestDocument, ...] = (),
    ) -> ManifestTraveller:
        """The traveller as a check-in system fills it from a read MRZ or chip."""
        travel_document = ManifestDocument(
            code=document_code(doc.code),
            number=doc.number,
            issuer=doc.issuer,
            expiry_date=doc.expiry_date,
        )
        return cls(
            role=role,
            surname=doc.surname,
            given_names=doc.given_names,
            sex=doc.sex,
            birth_date=doc.birth_date,
            nationality=doc.nationality,
            documents=(travel_document, *visas),
        )


def document_code(mrz_code: str) -> DocumentCode:
    """DOC code for an MRZ document code (`P`, `PM`, `ID`, `I<`, `V`, `AC`, ...)."""
    code = mrz_code.rstrip("<").upper()
    if code in ("AC", "IP"):
        return DocumentCode(code)
    by_letter = {"P": "P", "V": "V", "I": "I", "A": "A", "C": "C"}
    return DocumentCode(by_letter.get(code[:1], "Z"))


@dataclass(frozen=True, slots=True)
class PaxlstWarning:
    """Something the parser recognised as well-formed but did not use (an
    unknown qualifier or segment); recorded so a reviewer can see it."""

    segment: int
    tag: str
    reason: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """One flight's passenger (or crew) list.

    Times are as sent in DTM 189/232: naive local times at the departure and
    arrival airports. Airports are IATA three-letter codes; `carrier` the IATA
    airline designator. `warnings` (not part of equality) lists what the parser
    ignored.
    """

    flight: str
    carrier: str
    departure_airport: str
    arrival_airport: str
    departure_time: datetime
    arrival_time: datetime
    travellers: tuple[ManifestTraveller, ...]
    kind: ManifestKind = ManifestKind.PASSENGER
    reporting_party: str = ""
    warnings: tuple[PaxlstWarning, ...] = field(default=(), compare=False)
