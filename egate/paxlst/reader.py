"""Reading PAXLST: the segment groups of each message into a `Manifest`, and
the parts of a multi-part manifest assembled (policy in `egate.paxlst`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from egate.documents import Sex
from egate.edifact import EdifactError, Interchange, Message, Segment, parse_interchange
from egate.manifest import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestKind,
    ManifestTraveller,
    PaxlstWarning,
    TravellerRole,
)
from egate.paxlst.dates import read_date, read_datetime
from egate.paxlst.errors import PaxlstError

VERSIONS = ("D:02B", "D:05B")
# Standard PAXLST content we read past on purpose (not modelled, not suspicious).
_SKIPPED_TAGS = frozenset({"COM", "CTA", "FTX", "GEI", "EMP", "QTY", "MEA", "GID", "SEQ", "ERC"})
_SKIPPED_LOC = frozenset({"22", "92", "130", "174", "180"})
_SKIPPED_RFF = frozenset({"AEA", "CR", "SEA", "TN", "AKW"})
_SKIPPED_DTM = frozenset({"182", "554"})
_SEX = {"M": Sex.MALE, "F": Sex.FEMALE, "X": Sex.UNSPECIFIED, "U": Sex.UNSPECIFIED}


def parse_paxlst(text: str) -> Manifest:
    """Parse one interchange holding one manifest (all its parts, if multi-part)."""
    return parse_paxlst_parts([text])


def parse_paxlst_parts(texts: Iterable[str]) -> Manifest:
    """Parse the interchanges of one manifest (parts `01:C` ... `nn:F` in any
    order, any number of them per interchange) and assemble it. Messages of
    another manifest (another flight reference, or a crew list beside a
    passenger list) are an error: see `parse_manifests`."""
    parts, several = _read_all(texts)
    first = parts[0]
    for part in parts[1:]:
        if _manifest_key(part) != _manifest_key(first):
            _fail(part, part.message.header, "message belongs to another manifest", several)
    return _assemble(parts, several=several)


def parse_manifests(texts: Iterable[str]) -> tuple[Manifest, ...]:
    """Every manifest in these interchanges, e.g. a flight's passenger list
    and crew list, in order of first appearance; each one's parts are
    assembled and checked as by `parse_paxlst_parts`."""
    parts, several = _read_all(texts)
    groups: dict[tuple[str, ManifestKind], list[_Part]] = {}
    for part in parts:
        groups.setdefault(_manifest_key(part), []).append(part)
    return tuple(_assemble(group, several=several) for group in groups.values())


def _read_all(texts: Iterable[str]) -> tuple[list[_Part], bool]:
    """The messages of every interchange, read; and whether there were several texts."""
    parts: list[_Part] = []
    texts = list(texts)
    several = len(texts) > 1
    for index, text in enumerate(texts, 1):
        try:
            interchange = parse_interchange(text)
            if not interchange.messages:
                raise EdifactError(1, "UNB", "interchange holds no message")
            parts.extend(_read_message(m, interchange, index) for m in interchange.messages)
        except EdifactError as e:
            raise PaxlstError.of(e, index if several else None) from e
    if not parts:
        raise PaxlstError(0, "", "no interchange given")
    return parts, several


def _manifest_key(part: _Part) -> tuple[str, ManifestKind]:
    return part.message.common_access, part.manifest.kind


@dataclass
class _Part:
    message: Message
    manifest: Manifest
    interchange: int = 0
    end: int = 0  # position of UNT


@dataclass(slots=True)
class _TravellerDraft:
    """A traveller group being read (fields as in `ManifestTraveller`)."""

    role: TravellerRole
    surname: str
    given_names: str
    sex: Sex | None = None
    birth_date: date | None = None
    nationality: str | None = None
    documents: list[ManifestDocument] = field(default_factory=list)
    embarkation: str | None = None
    debarkation: str | None = None
    pnr: str | None = None
    reference: str | None = None

    def build(self) -> ManifestTraveller:
        return ManifestTraveller(
            self.role,
            self.surname,
            self.given_names,
            self.sex,
            self.birth_date,
            self.nationality,
            tuple(self.documents),
            self.embarkation,
            self.debarkation,
            self.pnr,
            self.reference,
        )


@dataclass(slots=True)
class _DocumentDraft:
    code: DocumentCode
    number: str
    issuer: str | None = None
    expiry_date: date | None = None


@dataclass
class _Reader:
    """Walks one message body; mutable state of the segment groups."""

    prepared: datetime
    header: dict[str, str] = field(default_factory=dict)
    times: dict[str, datetime] = field(default_factory=dict)
    travellers: list[ManifestTraveller] = field(default_factory=list)
    warnings: list[PaxlstWarning] = field(default_factory=list)
    traveller: _TravellerDraft | None = None
    document: _DocumentDraft | None = None
    count: int | None = None

    def warn(self, segment: Segment, reason: str) -> None:
        self.warnings.append(PaxlstWarning(segment.position, segment.tag, reason))

    def close_document(self) -> None:
        d = self.document
        if d is not None and self.traveller is not None:
            document = ManifestDocument(d.code, d.number, d.issuer, d.expiry_date)
            self.traveller.documents.append(document)
        self.document = None

    def close_traveller(self) -> None:
        self.close_document()
        if self.traveller is not None:
            self.travellers.append(self.traveller.build())
        self.traveller = None


def _read_message(message: Message, interchange: Interchange, index: int) -> _Part:
    if message.type != "PAXLST":
        raise message.header.error(f"message type {message.type!r} is not PAXLST")
    if message.version not in VERSIONS:
        raise message.header.error(f"unsupported PAXLST version {message.version!r}")
    body = message.body
    end = message.header.position + len(body) + 1
    if not body or body[0].tag != "BGM":
        raise (body[0] if body else message.header).error("message does not start with BGM")
    try:
        kind = ManifestKind(body[0].value(0))
    except ValueError:
        raise body[0].error(f"unsupported document code {body[0].value(0)!r}") from None
    reader = _Reader(interchange.prepared)
    for segment in body[1:]:
        if reader.count is not None:
            raise segment.error("segment after the control total CNT")
        _read_segment(reader, segment)
    reader.close_traveller()
    if reader.count is None:
        raise EdifactError(end, "UNT", "message has no control total CNT+42")
    if reader.count != len(reader.travellers):
        raise EdifactError(
            end - 1,
            "CNT",
            f"CNT+42 says {reader.count} travellers, the message has {len(reader.travellers)}",
        )
    manifest = _manifest(reader, kind, message.header)
    return _Part(message, manifest, interchange=index, end=end)


def _manifest(reader: _Reader, kind: ManifestKind, unh: Segment) -> Manifest:
    header, times = reader.header, reader.times
    for key, what in (("flight", "TDT+20"), ("125", "LOC+125"), ("87", "LOC+87")):
        if key not in header:
            raise unh.error(f"message has no {what}")
    for key, what in (("189", "DTM+189 (departure)"), ("232", "DTM+232 (arrival)")):
        if key not in times:
            raise unh.error(f"message has no {what}")
    return Manifest(
        flight=header["flight"],
        carrier=header["carrier"],
        departure_airport=header["125"],
        arrival_airport=header["87"],
        departure_time=times["189"],
        arrival_time=times["232"],
        travellers=tuple(reader.travellers),
        kind=kind,
        reporting_party=header.get("MS", ""),
        warnings=tuple(reader.warnings),
    )


def _read_segment(reader: _Reader, segment: Segment) -> None:
    handler = _HANDLERS.get(segment.tag)
    if handler is not None:
        handler(reader, segment)
    elif segment.tag not in _SKIPPED_TAGS:
        reader.warn(segment, f"unknown segment {segment.tag} ignored")


def _nad(reader: _Reader, segment: Segment) -> None:
    qualifier = segment.value(0)
    if qualifier == "MS":
        if reader.travellers or reader.traveller is not None:
            raise segment.error("reporting party NAD+MS after the travellers")
        reader.header["MS"] = segment.value(3) or segment.value(1)
        return
    try:
        role = TravellerRole(qualifier)
    except ValueError:
        raise segment.error(f"unknown party qualifier {qualifier!r}") from None
    reader.close_traveller()
    name = segment.elements[3] if len(segment.elements) > 3 else ()
    if not name or not name[0]:
        raise segment.error("traveller without a surname")
    given = " ".join(c for c in name[1:] if c)
    reader.traveller = _TravellerDraft(role, name[0], given)


def _traveller(reader: _Reader, segment: Segment) -> _TravellerDraft:
    if reader.traveller is None:
        raise segment.error(f"{segment.tag} outside a traveller group (no NAD before it)")
    return reader.traveller


def _att(reader: _Reader, segment: Segment) -> None:
    traveller = _traveller(reader, segment)
    if segment.value(0) != "2":
        reader.warn(segment, f"unknown attribute qualifier {segment.value(0)!r} ignored")
        return
    sex = _SEX.get(segment.value(2))
    if sex is None:
        raise segment.error(f"invalid sex {segment.value(2)!r} (want M, F, X or U)")
    traveller.sex = sex


def _nat(reader: _Reader, segment: Segment) -> None:
    traveller = _traveller(reader, segment)
    traveller.nationality = _country(segment, segment.value(1))


def is_state_code(code: str) -> bool:
    """ICAO codes are three characters, some written short outside the MRZ ("D" for D<<)."""
    return 1 <= len(code) <= 3 and all((c.isalpha() and c.isascii()) or c == "<" for c in code)


def _country(segment: Segment, code: str) -> str:
    if not is_state_code(code):
        raise segment.error(f"invalid state code {code!r} (want 1-3 letters)")
    return code


def _doc(reader: _Reader, segment: Segment) -> None:
    _traveller(reader, segment)
    reader.close_document()
    try:
        code = DocumentCode(segment.value(0))
    except ValueError:
        raise segment.error(f"unknown document code {segment.value(0)!r}") from None
    if not segment.value(1):
        raise segment.error("document without a number")
    reader.document = _DocumentDraft(code, segment.value(1))


def _dtm(reader: _Reader, segment: Segment) -> None:
    qualifier, value, fmt = segment.value(0), segment.value(0, 1), segment.value(0, 2)
    if qualifier in ("189", "232"):
        if reader.traveller is not None:
            raise segment.error(f"flight time DTM+{qualifier} inside a traveller group")
        if qualifier in reader.times:
            reader.warn(segment, f"repeated DTM+{qualifier} ignored (first leg kept)")
            return
        reader.times[qualifier] = read_datetime(segment, value, fmt, reader.prepared)
    elif qualifier == "329":
        traveller = _traveller(reader, segment)
        birth = read_date(segment, value, fmt, reader.prepared, past=True)
        traveller.birth_date = birth
    elif qualifier == "36":
        if reader.document is None:
            raise segment.error("expiry date DTM+36 outside a DOC group")
        expiry = read_date(segment, value, fmt, reader.prepared, past=False)
        reader.document.expiry_date = expiry
    elif qualifier not in _SKIPPED_DTM:
        reader.warn(segment, f"unknown date qualifier {qualifier!r} ignored")


def _loc(reader: _Reader, segment: Segment) -> None:
    qualifier, place = segment.value(0), segment.value(1)
    if qualifier in ("125", "87"):
        if reader.traveller is not None:
            raise segment.error(f"flight airport LOC+{qualifier} inside a traveller group")
        if qualifier in reader.header:
            reader.warn(segment, f"repeated LOC+{qualifier} ignored (first leg kept)")
        elif not place:
            raise segment.error(f"LOC+{qualifier} without a place")
        else:
            reader.header[qualifier] = place
    elif qualifier == "91":
        if reader.document is None:
            raise segment.error("issuing state LOC+91 outside a DOC group")
        reader.document.issuer = _country(segment, place)
    elif qualifier == "178":
        traveller = _traveller(reader, segment)
        traveller.embarkation = place or None
    elif qualifier == "179":
        traveller = _traveller(reader, segment)
        traveller.debarkation = place or None
    elif qualifier not in _SKIPPED_LOC:
        reader.warn(segment, f"unknown place qualifier {qualifier!r} ignored")


def _rff(reader: _Reader, segment: Segment) -> None:
    qualifier, value = segment.value(0), segment.value(0, 1)
    if qualifier == "AVF" and reader.traveller is not None:
        reader.traveller.pnr = value or None
    elif qualifier == "ABO" and reader.traveller is not None:
        reader.traveller.reference = value or None
    elif qualifier not in _SKIPPED_RFF:
        reader.warn(segment, f"unknown or misplaced reference {qualifier!r} ignored")


def _tdt(reader: _Reader, segment: Segment) -> None:
    if reader.traveller is not None or "flight" in reader.header:
        raise segment.error("TDT repeated or inside a traveller group")
    if segment.value(0) != "20":
        raise segment.error(f"transport stage qualifier {segment.value(0)!r} is not 20")
    if not segment.value(1):
        raise segment.error("TDT without a flight number")
    reader.header["flight"] = segment.value(1)
    reader.header["carrier"] = segment.value(4)


def _cnt(reader: _Reader, segment: Segment) -> None:
    if segment.value(0) != "42":
        reader.warn(segment, f"unknown control total {segment.value(0)!r} ignored")
        return
    total = segment.value(0, 1)
    if not total.isdigit() or not total.isascii():
        raise segment.error(f"invalid control total {total!r}")
    reader.close_traveller()
    reader.count = int(total)


def _bgm(reader: _Reader, segment: Segment) -> None:
    raise segment.error("BGM repeated")


_HANDLERS = {
    "NAD": _nad,
    "ATT": _att,
    "NAT": _nat,
    "DOC": _doc,
    "DTM": _dtm,
    "LOC": _loc,
    "RFF": _rff,
    "TDT": _tdt,
    "CNT": _cnt,
    "BGM": _bgm,
}


def _assemble(parts: list[_Part], *, several: bool) -> Manifest:
    first = parts[0]
    if len(parts) == 1 and first.message.part is None:
        return first.manifest
    ordered = sorted(parts, key=lambda p: p.message.part.number if p.message.part else 0)
    for expected, part in enumerate(ordered, 1):
        number = part.message.part
        header = part.message.header
        if number is None:
            _fail(part, header, "multi-part manifest with a message without part number", several)
        elif number.number < expected:
            _fail(part, header, f"duplicate part {number.number}", several)
        elif number.number > expected:
            _fail(part, header, f"part {expected} is missing", several)
        elif number.final != (expected == len(ordered)):
            reason = "final part marker F before the last part"
            if not number.final:
                reason = f"last part {expected} is not marked final (F): parts missing"
            _fail(part, header, reason, several)
        if _flight(part.manifest) != _flight(first.manifest):
            _fail(part, header, "part disagrees with part 1 on the flight", several)
    travellers = tuple(t for p in ordered for t in p.manifest.travellers)
    warnings = tuple(w for p in ordered for w in p.manifest.warnings)
    return replace(ordered[0].manifest, travellers=travellers, warnings=warnings)


def _flight(m: Manifest) -> tuple[object, ...]:
    return (
        m.flight,
        m.carrier,
        m.departure_airport,
        m.arrival_airport,
        m.departure_time,
        m.arrival_time,
    )


def _fail(part: _Part, segment: Segment, reason: str, several: bool) -> None:
    raise PaxlstError(segment.position, segment.tag, reason, part.interchange if several else None)
