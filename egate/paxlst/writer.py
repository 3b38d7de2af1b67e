"""Writing PAXLST: a `Manifest` as one or several interchanges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from egate.edifact import Delimiters, Element, envelope, serialize
from egate.manifest import Manifest, ManifestTraveller
from egate.paxlst.dates import resolve_year
from egate.paxlst.errors import ManifestValueError
from egate.paxlst.reader import VERSIONS, is_state_code

_UNOA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>")


def write_paxlst(
    manifest: Manifest,
    *,
    version: str = "D:05B",
    max_travellers_per_part: int | None = None,
    sender: str = "EGATESIM",
    recipient: str = "EGATE",
    reference: str = "1",
    prepared: datetime | None = None,
    group: bool = True,
    una: bool = True,
    line_breaks: bool = False,
    single_interchange: bool = False,
) -> list[str]:
    """Write `manifest` as PAXLST interchanges, one per message part (or all
    parts in one interchange with `single_interchange`).

    Without `max_travellers_per_part` (or when the travellers fit) the result
    is one interchange with one message and no part number; otherwise parts
    `01:C` ... `nn:F` of at most that many travellers each, in order.
    `reference` is the interchange control reference (the part number is
    appended when there are several interchanges); `prepared` (default: the
    departure time) goes in UNB and anchors two-digit years. `group` wraps
    messages in UNG/UNE.
    """
    if version not in VERSIONS:
        raise ManifestValueError(0, "UNH", f"unsupported PAXLST version {version!r}")
    if max_travellers_per_part is not None and max_travellers_per_part < 1:
        raise ManifestValueError(0, "", f"max_travellers_per_part {max_travellers_per_part} < 1")
    _check_writable(manifest)
    prepared = prepared or manifest.departure_time
    size = max_travellers_per_part or max(1, len(manifest.travellers))
    travellers = manifest.travellers
    chunks = [travellers[i : i + size] for i in range(0, len(travellers), size)] or [()]
    bodies = []
    for number, chunk in enumerate(chunks, 1):
        part = None
        if len(chunks) > 1:
            part = (f"{number:02d}", "F" if number == len(chunks) else "C")
        bodies.append(_message_body(manifest, chunk, version, part, prepared, str(number)))
    batches = [bodies] if single_interchange else [[body] for body in bodies]
    texts = []
    for number, batch in enumerate(batches, 1):
        segments = envelope(
            batch,
            message_type="PAXLST",
            version=version,
            syntax=_syntax(manifest),
            sender=sender,
            recipient=recipient,
            prepared=prepared,
            reference=reference if len(batches) == 1 else f"{reference}{number:02d}",
            group=group,
        )
        texts.append(serialize(segments, Delimiters(), una=una, line_breaks=line_breaks))
    return texts


Segments = list[tuple[str, Sequence[Element]]]


def _message_body(
    manifest: Manifest,
    travellers: Sequence[ManifestTraveller],
    version: str,
    part: tuple[str, str] | None,
    prepared: datetime,
    message_reference: str,
) -> Segments:
    directory, release = version.split(":")
    flight_ref = f"{manifest.flight}/{manifest.departure_time:%y%m%d%H%M}"
    unh: list[Element] = [
        message_reference,
        ["PAXLST", directory, release, "UN", "IATA"],
        flight_ref,
    ]
    if part is not None:
        unh.append(list(part))
    out: Segments = [("UNH", unh), ("BGM", [manifest.kind.value])]
    if manifest.reporting_party:
        out.append(("NAD", ["MS", "", "", manifest.reporting_party]))
    out += [
        ("TDT", ["20", manifest.flight, "", "", manifest.carrier]),
        ("LOC", ["125", manifest.departure_airport]),
        ("DTM", [_dtm_datetime("189", manifest.departure_time, prepared)]),
        ("LOC", ["87", manifest.arrival_airport]),
        ("DTM", [_dtm_datetime("232", manifest.arrival_time, prepared)]),
    ]
    for traveller in travellers:
        out += _traveller_segments(traveller, version, prepared)
    out.append(("CNT", [["42", str(len(travellers))]]))
    return out


def _traveller_segments(t: ManifestTraveller, version: str, prepared: datetime) -> Segments:
    name = [t.surname, t.given_names] if t.given_names else [t.surname]
    out: Segments = [("NAD", [t.role.value, "", "", name])]
    if t.sex is not None:
        out.append(("ATT", ["2", "", t.sex.value]))
    if t.birth_date is not None:
        out.append(("DTM", [_dtm_date("329", t.birth_date, prepared, past=True)]))
    if t.embarkation is not None:
        out.append(("LOC", ["178", t.embarkation]))
    if t.debarkation is not None:
        out.append(("LOC", ["179", t.debarkation]))
    if t.nationality is not None:
        out.append(("NAT", ["2", t.nationality]))
    if t.pnr is not None:
        out.append(("RFF", [["AVF", t.pnr]]))
    if t.reference is not None:
        out.append(("RFF", [["ABO", t.reference]]))
    for doc in t.documents:
        # D:05B qualifies the code with its code list (110) and agency (111).
        code: Element = [doc.code.value, "110", "111"] if version == "D:05B" else doc.code.value
        out.append(("DOC", [code, doc.number]))
        if doc.expiry_date is not None:
            out.append(("DTM", [_dtm_date("36", doc.expiry_date, prepared, past=False)]))
        if doc.issuer is not None:
            out.append(("LOC", ["91", doc.issuer]))
    return out


def _dtm_date(qualifier: str, value: date, prepared: datetime, *, past: bool) -> list[str]:
    """YYMMDD when the reader's century rule gives the year back, else CCYYMMDD (102)."""
    if resolve_year(value.year % 100, prepared.year, past=past) == value.year:
        return [qualifier, value.strftime("%y%m%d")]
    return [qualifier, f"{value.year:04d}{value:%m%d}", "102"]


def _dtm_datetime(qualifier: str, value: datetime, prepared: datetime) -> list[str]:
    if resolve_year(value.year % 100, prepared.year, past=False) == value.year:
        return [qualifier, value.strftime("%y%m%d%H%M"), "201"]
    return [qualifier, f"{value.year:04d}{value:%m%d%H%M}", "203"]


def _syntax(manifest: Manifest) -> str:
    """The smallest character repertoire holding every value: UNOA, UNOC (Latin-1), UNOW (UTF-8)."""
    text = "".join(value or "" for _, value in _texts(manifest))
    if set(text) <= _UNOA:
        return "UNOA"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "UNOW"
    return "UNOC"


_REQUIRED = frozenset(
    {"flight", "departure airport", "arrival airport", "surname", "document number"}
)
_MAY_BE_EMPTY = frozenset({"carrier", "reporting party", "given names"})


def _check_writable(manifest: Manifest) -> None:
    """Refuse what the reader would refuse or read back differently."""
    for what, value in _texts(manifest):
        field = what.rpartition(": ")[2]
        if value is None or (not value and field in _MAY_BE_EMPTY):
            continue
        if not value:
            hint = "" if field in _REQUIRED else " (leave it None instead)"
            raise ManifestValueError(0, "", f"{what} is empty{hint}")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ManifestValueError(0, "", f"{what} holds a control character: {value!r}")
        if field.endswith("code") and not is_state_code(value):
            raise ManifestValueError(0, "", f"{what} {value!r} is not 1-3 letters")


def _texts(manifest: Manifest) -> Iterable[tuple[str, str | None]]:
    """Every text value written, named (state codes end in "code")."""
    yield "flight", manifest.flight
    yield "carrier", manifest.carrier
    yield "reporting party", manifest.reporting_party
    yield "departure airport", manifest.departure_airport
    yield "arrival airport", manifest.arrival_airport
    for index, t in enumerate(manifest.travellers, 1):
        who = f"traveller {index}: "
        yield who + "surname", t.surname
        yield who + "given names", t.given_names
        yield who + "nationality code", t.nationality
        yield who + "embarkation", t.embarkation
        yield who + "debarkation", t.debarkation
        yield who + "pnr", t.pnr
        yield who + "reference", t.reference
        for doc in t.documents:
            yield who + "document number", doc.number
            yield who + "issuer code", doc.issuer
