"""Advance passenger processing (APP / interactive API): at check-in the
carrier sends one traveller, the state answers board, no-board or contact
the authority, as a CUSRES message (BGM+962; ERP/ERC and FTX+AAP per traveller).

Verdict rule: any person-watchlist hit, or data the state needs but did not
get, means CONTACT_AUTHORITY (the authority decides, and the carrier must not
simply turn the traveller away and alert them); otherwise any document
problem (missing, not accepted, expired, too short validity, SLTD record,
visa missing) means NO_BOARD; otherwise BOARD. All reasons are kept; a CUSRES
tells the carrier the document reasons but never watchlist details.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from egate import EgateError
from egate.documents import TravelDocument
from egate.edifact import EdifactError, Element, envelope, parse_interchange, serialize
from egate.manifest import DocumentCode, Manifest, ManifestTraveller
from egate.watchlist import DocumentWatchlist, PersonHit, PersonWatchlist, SltdHit

_TRAVEL_DOCUMENTS = frozenset(
    {DocumentCode.PASSPORT, DocumentCode.IDENTITY_CARD, DocumentCode.PASSPORT_CARD}
)


class AppRulesError(EgateError):
    """An `AppRules` value is unusable; carries the field and the value."""

    code = "app_rules_invalid"

    def __init__(self, name: str, value: object, rule: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"{name} {value!r} {rule}")


@dataclass(frozen=True, slots=True)
class AppRules:
    """The receiving state's entry rules as APP applies them.

    `visa_nationalities`: nationalities (three-letter codes) that need a visa
    issued by `state` (any issuer when `state` is None). `min_validity_days`:
    the document must still be valid this many days after arrival.
    `accepted_documents`: document codes accepted for travel.
    """

    state: str | None = None
    visa_nationalities: frozenset[str] = frozenset()
    min_validity_days: int = 0
    accepted_documents: frozenset[DocumentCode] = _TRAVEL_DOCUMENTS

    def __post_init__(self) -> None:
        if self.min_validity_days < 0:
            raise AppRulesError("min_validity_days", self.min_validity_days, "must be >= 0")
        codes = {*self.visa_nationalities, *([self.state] if self.state else [])}
        for code in codes:
            if not (1 <= len(code) <= 3 and code.replace("<", "").isalpha() and code.isupper()):
                raise AppRulesError("state code", code, "must be 1-3 upper-case letters")


class AppVerdict(enum.Enum):
    BOARD = "board"
    NO_BOARD = "no_board"
    CONTACT_AUTHORITY = "contact_authority"


class AppReasonCode(enum.Enum):
    NO_DOCUMENT = "no_document"
    DOCUMENT_NOT_ACCEPTED = "document_not_accepted"
    DOCUMENT_EXPIRED = "document_expired"
    VALIDITY_TOO_SHORT = "validity_too_short"
    SLTD_HIT = "sltd_hit"
    VISA_MISSING = "visa_missing"
    DATA_MISSING = "data_missing"
    WATCHLIST_HIT = "watchlist_hit"

    @property
    def verdict(self) -> AppVerdict:
        if self in (AppReasonCode.WATCHLIST_HIT, AppReasonCode.DATA_MISSING):
            return AppVerdict.CONTACT_AUTHORITY
        return AppVerdict.NO_BOARD


@dataclass(frozen=True, slots=True)
class AppReason:
    code: AppReasonCode
    detail: str


@dataclass(frozen=True, slots=True)
class AppResult:
    """The answer for one traveller; `sltd` and `watchlist` are for the authority only."""

    verdict: AppVerdict
    reasons: tuple[AppReason, ...]
    sltd: SltdHit | None = None
    watchlist: tuple[PersonHit, ...] = ()


def check_traveller(
    traveller: ManifestTraveller | TravelDocument,
    *,
    sltd: DocumentWatchlist,
    persons: PersonWatchlist,
    rules: AppRules,
    today: date,
    arrival: date | None = None,
) -> AppResult:
    """Check one traveller at check-in on `today`, for an arrival on
    `arrival` (default `today`): document, SLTD, person watchlist, visa."""
    if isinstance(traveller, TravelDocument):
        traveller = ManifestTraveller.from_document(traveller)
    arrival = arrival or today
    reasons: list[AppReason] = []
    document = traveller.document
    sltd_hit = None
    if document is None:
        reasons.append(AppReason(AppReasonCode.NO_DOCUMENT, "no travel document sent"))
    else:
        reasons += _document_reasons(document.code, document.expiry_date, rules, arrival)
        if document.issuer is None:
            reasons.append(AppReason(AppReasonCode.DATA_MISSING, "document issuer"))
        else:
            sltd_hit = sltd.hit(document.issuer, document.number)
        if sltd_hit is not None:
            reasons.append(AppReason(AppReasonCode.SLTD_HIT, f"document {sltd_hit.status.value}"))
    for what, value in (
        ("birth date", traveller.birth_date),
        ("nationality", traveller.nationality),
    ):
        if value is None:
            reasons.append(AppReason(AppReasonCode.DATA_MISSING, what))
    reasons += _visa_reasons(traveller, rules, arrival)
    hits = tuple(persons.search(traveller.surname, traveller.given_names, traveller.birth_date))
    if hits:
        best = hits[0]
        detail = f"entry {best.entry.id}, score {best.score:.0f}"
        reasons.append(AppReason(AppReasonCode.WATCHLIST_HIT, detail))
    verdicts = {r.code.verdict for r in reasons}
    verdict = next(
        (v for v in (AppVerdict.CONTACT_AUTHORITY, AppVerdict.NO_BOARD) if v in verdicts),
        AppVerdict.BOARD,
    )
    return AppResult(verdict, tuple(reasons), sltd_hit, hits)


def _document_reasons(
    code: DocumentCode, expiry: date | None, rules: AppRules, arrival: date
) -> list[AppReason]:
    reasons = []
    if code not in rules.accepted_documents:
        reasons.append(
            AppReason(AppReasonCode.DOCUMENT_NOT_ACCEPTED, f"document code {code.value}")
        )
    if expiry is None:
        reasons.append(AppReason(AppReasonCode.DATA_MISSING, "document expiry date"))
    elif expiry < arrival:
        reasons.append(AppReason(AppReasonCode.DOCUMENT_EXPIRED, f"expired {expiry.isoformat()}"))
    elif expiry < arrival + timedelta(days=rules.min_validity_days):
        detail = f"valid until {expiry.isoformat()}, {rules.min_validity_days} days required"
        reasons.append(AppReason(AppReasonCode.VALIDITY_TOO_SHORT, detail))
    return reasons


def _visa_reasons(traveller: ManifestTraveller, rules: AppRules, arrival: date) -> list[AppReason]:
    if traveller.nationality not in rules.visa_nationalities:
        return []
    for visa in traveller.visas:
        issued_here = rules.state is None or visa.issuer in (None, rules.state)
        if issued_here and (visa.expiry_date is None or visa.expiry_date >= arrival):
            return []
    detail = f"nationality {traveller.nationality} needs a visa"
    return [AppReason(AppReasonCode.VISA_MISSING, detail)]


# --- CUSRES --------------------------------------------------------------------

# ERC codes and free texts of this implementation (the carrier and the state agree them).
ERC_CODES = {AppVerdict.BOARD: "0Z", AppVerdict.NO_BOARD: "1Z", AppVerdict.CONTACT_AUTHORITY: "2Z"}
_TEXTS = {
    AppVerdict.BOARD: "OK TO BOARD",
    AppVerdict.NO_BOARD: "DO NOT BOARD",
    AppVerdict.CONTACT_AUTHORITY: "CONTACT GOVERNMENT",
}
_CARRIER_REASONS = frozenset(AppReasonCode) - {AppReasonCode.WATCHLIST_HIT, AppReasonCode.SLTD_HIT}


def write_cusres(
    result: AppResult,
    traveller: ManifestTraveller,
    flight: Manifest,
    *,
    sender: str = "EGATE",
    recipient: str = "CARRIER",
    reference: str = "1",
    prepared: datetime,
    version: str = "D:05B",
) -> str:
    """The CUSRES answer to the carrier for one traveller on `flight` (its
    flight, route and times are echoed; its travellers are not used).
    The traveller is identified by RFF+AVF (booking) and RFF+ABO (the
    carrier's traveller reference, else the document number)."""
    directory, release = version.split(":")
    body: list[tuple[str, list[Element]]] = [
        ("UNH", ["1", ["CUSRES", directory, release, "UN", "IATA"], flight.flight]),
        ("BGM", ["962"]),
        ("TDT", ["20", flight.flight, "", "", flight.carrier]),
        ("LOC", ["125", flight.departure_airport]),
        ("DTM", [["189", f"{flight.departure_time:%Y%m%d%H%M}", "203"]]),
        ("LOC", ["87", flight.arrival_airport]),
        ("DTM", [["232", f"{flight.arrival_time:%Y%m%d%H%M}", "203"]]),
        ("ERP", ["2"]),
    ]
    if traveller.pnr:
        body.append(("RFF", [["AVF", traveller.pnr]]))
    document = traveller.document
    ref = traveller.reference or (document.number if document else "")
    if ref:
        body.append(("RFF", [["ABO", ref]]))
    body.append(("ERC", [ERC_CODES[result.verdict]]))
    text = _TEXTS[result.verdict]
    if result.verdict is AppVerdict.NO_BOARD:
        told = [r.code.value.upper().replace("_", " ") for r in result.reasons]
        shown = [t for t, r in zip(told, result.reasons, strict=True) if r.code in _CARRIER_REASONS]
        text = ": ".join([text, ", ".join(dict.fromkeys(shown))]) if shown else text
    body.append(("FTX", ["AAP", "", "", text]))
    segments = envelope(
        [body],
        message_type="CUSRES",
        version=version,
        syntax="UNOA",
        sender=sender,
        recipient=recipient,
        prepared=prepared,
        reference=reference,
    )
    return serialize(segments)


class CusresError(EdifactError):
    """A CUSRES answer is malformed or not an APP answer."""

    code = "cusres_malformed"


@dataclass(frozen=True, slots=True)
class CusresAnswer:
    """What the carrier reads from a CUSRES: the verdict, its text, the traveller reference."""

    verdict: AppVerdict
    text: str
    flight: str
    reference: str


def parse_cusres(text: str) -> CusresAnswer:
    """Read the first traveller answer of a CUSRES (as a carrier system would)."""
    try:
        interchange = parse_interchange(text)
    except EdifactError as e:
        raise CusresError(e.segment, e.tag, e.reason) from e
    by_code = {code: verdict for verdict, code in ERC_CODES.items()}
    for message in interchange.messages:
        if message.type != "CUSRES":
            raise CusresError(message.header.position, "UNH", f"not a CUSRES: {message.type!r}")
        values = {(s.tag, s.value(0)): s for s in message.body}
        erc = next((s for s in message.body if s.tag == "ERC"), None)
        if erc is None or erc.value(0) not in by_code:
            raise CusresError(message.header.position, "ERC", "no known ERC board code")
        ftx, tdt = values.get(("FTX", "AAP")), values.get(("TDT", "20"))
        ref = next(
            (s.value(0, 1) for s in message.body if s.tag == "RFF" and s.value(0) == "ABO"), ""
        )
        return CusresAnswer(
            verdict=by_code[erc.value(0)],
            text=ftx.value(3) if ftx else "",
            flight=tdt.value(1) if tdt else "",
            reference=ref,
        )
    raise CusresError(1, "UNB", "interchange holds no message")
