from __future__ import annotations

import re
import string
from dataclasses import replace
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egate import EgateError
from egate.documents import DocumentType, Sex, TravelDocument
from egate.paxlst import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestKind,
    ManifestTraveller,
    ManifestValueError,
    PaxlstError,
    TravellerRole,
    parse_manifests,
    parse_paxlst,
    parse_paxlst_parts,
    write_paxlst,
)

HEADER = (
    "UNB+UNOA:4+AIRLINE+BORDER+261121:0540+REF1++APIS'"
    "UNG+PAXLST+AIRLINE+BORDER+261121:0540+GRP1+UN+D:05B'"
)
MESSAGE = (
    "UNH+M1+PAXLST:D:05B:UN:IATA+BA123/2611210930'"  # segment 3 of the interchange
    "BGM+745'"
    "NAD+MS+++OPS DESK'"
    "TDT+20+BA123+++BA'"
    "LOC+125+LHR'"
    "DTM+189:2611210930:201'"
    "LOC+87+JFK'"
    "DTM+232:2611211245:201'"
    "NAD+FL+++ERIKSSON:ANNA MARIA'"  # 11
    "ATT+2++F'"
    "DTM+329:740812'"
    "LOC+178+LHR'"
    "LOC+179+JFK'"
    "NAT+2+UTO'"
    "RFF+AVF:ABC123'"
    "RFF+ABO:PAX1'"
    "DOC+P:110:111+L898902C3'"
    "DTM+36:300415'"
    "LOC+91+UTO'"
    "NAD+FM+++O?'BRIEN?+SONS:JOHN?:PAUL'"  # 22
    "ATT+2++M'"
    "DTM+329:19200229:102'"
    "NAT+2+D<<'"
    "DOC+P+C01X00T47'"
    "DOC+V+VIS??9'"
    "CNT+42:2'"
    "UNT+27+M1'"
)
TRAILER = "UNE+1+GRP1'UNZ+1+REF1'"
# One segment a line, as interchanges are often written (a released ?' is not a terminator).
EXAMPLE = "UNA:+.? '\n" + re.sub(r"(?<!\?)'", "'\n", HEADER + MESSAGE + TRAILER)


def test_parses_a_hand_written_manifest() -> None:
    m = parse_paxlst(EXAMPLE)
    assert (m.flight, m.carrier, m.departure_airport, m.arrival_airport) == (
        "BA123",
        "BA",
        "LHR",
        "JFK",
    )
    assert (m.departure_time, m.arrival_time) == (
        datetime(2026, 11, 21, 9, 30),
        datetime(2026, 11, 21, 12, 45),
    )
    assert m.kind is ManifestKind.PASSENGER
    assert m.reporting_party == "OPS DESK"
    anna, _ = m.travellers
    assert anna == ManifestTraveller(
        role=TravellerRole.PASSENGER,
        surname="ERIKSSON",
        given_names="ANNA MARIA",
        sex=Sex.FEMALE,
        birth_date=date(1974, 8, 12),
        nationality="UTO",
        documents=(ManifestDocument(DocumentCode.PASSPORT, "L898902C3", "UTO", date(2030, 4, 15)),),
        embarkation="LHR",
        debarkation="JFK",
        pnr="ABC123",
        reference="PAX1",
    )
    assert m.warnings == ()


def test_release_characters_are_undone() -> None:
    john = parse_paxlst(EXAMPLE).travellers[1]
    assert john.role is TravellerRole.CREW
    assert john.surname == "O'BRIEN+SONS"
    assert john.given_names == "JOHN:PAUL"
    assert john.birth_date == date(1920, 2, 29)
    assert john.nationality == "D<<"
    assert john.document == ManifestDocument(DocumentCode.PASSPORT, "C01X00T47")
    assert john.visas == (ManifestDocument(DocumentCode.VISA, "VIS?9"),)


def test_una_absent_gives_the_same_manifest() -> None:
    assert parse_paxlst(HEADER + MESSAGE + TRAILER) == parse_paxlst(EXAMPLE)


def test_crlf_line_ends_and_a_byte_order_mark_are_tolerated() -> None:
    assert parse_paxlst("\ufeff" + EXAMPLE.replace("\n", "\r\n")) == parse_paxlst(EXAMPLE)


def test_other_service_characters_from_una() -> None:
    table = str.maketrans({"'": "~", "+": "*", ":": "^", "?": "!"})
    text = "UNA^*.! ~" + (HEADER + MESSAGE + TRAILER).translate(table)
    m = parse_paxlst(text)
    assert m.travellers[0] == parse_paxlst(EXAMPLE).travellers[0]
    john = m.travellers[1]
    # The old service characters are plain data now; the new ones were released.
    assert (john.surname, john.given_names) == ("O~BRIEN*SONS", "JOHN^PAUL")
    assert john.visas[0].number == "VIS!9"


def test_colliding_una_is_rejected() -> None:
    with pytest.raises(PaxlstError, match=r"unusable service characters"):
        parse_paxlst("UNA::.? '" + HEADER + MESSAGE + TRAILER)


def _multipart(parts: list[tuple[str, str]]) -> str:
    """One interchange holding parts `(number, status)` of the example, one traveller each."""
    messages = []
    travellers = MESSAGE.split("NAD+FL")[1].split("CNT+42")[0]
    head = MESSAGE.split("NAD+FL")[0]
    for index, (number, status) in enumerate(parts):
        body = head.replace("BA123/2611210930'", f"BA123/2611210930+{number}:{status}'")
        body = body.replace("UNH+M1", f"UNH+M{index}") + "NAD+FL" + travellers.split("NAD+FM")[0]
        count = body.count("'") + 2
        messages.append(body + f"CNT+42:1'UNT+{count}+M{index}'")
    return HEADER + "".join(messages) + f"UNE+{len(parts)}+GRP1'UNZ+1+REF1'"


def test_multi_part_messages_are_assembled_in_order() -> None:
    m = parse_paxlst(_multipart([("02", "C"), ("01", "C"), ("03", "F")]))
    assert len(m.travellers) == 3
    assert {t.surname for t in m.travellers} == {"ERIKSSON"}
    assert len(parse_paxlst(_multipart([("01", "F")])).travellers) == 1


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([("01", "C"), ("03", "F")], "part 2 is missing"),
        ([("01", "C"), ("01", "C"), ("02", "F")], "duplicate part 1"),
        ([("01", "F"), ("02", "F")], "final part marker F before the last part"),
        ([("01", "C"), ("02", "C")], r"last part 2 is not marked final \(F\)"),
        ([("01", "C"), ("2X", "F")], r"invalid message part 2X:F"),
    ],
)
def test_multi_part_ordering_errors(parts: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(PaxlstError, match=reason):
        parse_paxlst(_multipart(parts))


def test_all_parts_in_one_interchange() -> None:
    m = _manifest(travellers=5)
    (text,) = write_paxlst(m, max_travellers_per_part=2, single_interchange=True)
    assert "UNH+1+PAXLST:D:05B:UN:IATA+BA123/2611210930+01:C'" in text
    assert "UNH+3+PAXLST:D:05B:UN:IATA+BA123/2611210930+03:F'" in text
    assert text.endswith("UNE+3+1'UNZ+1+1'")
    assert parse_paxlst(text) == m
    ungrouped = write_paxlst(m, max_travellers_per_part=2, single_interchange=True, group=False)
    assert ungrouped[0].endswith("UNT+16+3'UNZ+3+1'")
    assert parse_paxlst(ungrouped[0]) == m


def test_passenger_and_crew_lists_of_one_flight() -> None:
    passengers = _manifest(travellers=3)
    crew = replace(_manifest(travellers=2), kind=ManifestKind.CREW)
    texts = write_paxlst(passengers, max_travellers_per_part=2) + write_paxlst(crew)
    assert parse_manifests(texts) == (passengers, crew)
    with pytest.raises(PaxlstError, match=r"interchange 3, segment 3 \(UNH\): .*another manifest"):
        parse_paxlst_parts(texts)
    with pytest.raises(PaxlstError, match=r"interchange 1, segment 3 \(UNH\): last part 1 is not"):
        parse_manifests([texts[0], texts[2]])


def test_an_escaped_terminator_before_una_letters_is_data() -> None:
    # pydifact's Parser.parse looks for "'UNA" anywhere when the text does not
    # start with UNA; a name "O'UNAIS" released as O?'UNAIS must stay a name.
    text = _corrupt("NAD+FL+++ERIKSSON", "NAD+FL+++O?'UNAIS")
    assert parse_paxlst(text).travellers[0].surname == "O'UNAIS"


def test_parts_in_separate_interchanges_name_the_interchange() -> None:
    m = _manifest(travellers=5)
    texts = write_paxlst(m, max_travellers_per_part=2)
    assert len(texts) == 3
    assert parse_paxlst_parts(reversed(texts)) == m
    with pytest.raises(PaxlstError, match=r"interchange 2, segment 3 \(UNH\): last part 2 is not"):
        parse_paxlst_parts(texts[:2])
    other = write_paxlst(_manifest(travellers=5, flight="BA999"), max_travellers_per_part=2)
    with pytest.raises(PaxlstError, match=r"interchange 3, .*belongs to another manifest"):
        parse_paxlst_parts([texts[0], texts[1], other[2]])


def _segments(text: str) -> int:
    return len(re.findall(r"(?<!\?)'", text))


def _corrupt(old: str, new: str, text: str = HEADER + MESSAGE + TRAILER) -> str:
    """Replace `old` by `new`, keeping the UNT count right unless UNT itself is the target."""
    assert old in text
    text = text.replace(old, new, 1)
    return text.replace("UNT+27+", f"UNT+{27 + _segments(new) - _segments(old)}+")


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "UNT+27+M1",
            "UNT+26+M1",
            r"segment 29 \(UNT\): UNT counts '26' segments, the message has 27",
        ),
        ("UNT+27+M1", "UNT+27+M2", r"segment 29 \(UNT\): UNT reference 'M2' differs"),
        (
            "CNT+42:2",
            "CNT+42:3",
            r"segment 28 \(CNT\): CNT\+42 says 3 travellers, the message has 2",
        ),
        ("CNT+42:2'", "", r"segment 28 \(UNT\): message has no control total"),
        ("UNE+1+GRP1", "UNE+2+GRP1", r"segment 30 \(UNE\): UNE counts '2'"),
        ("UNE+1+GRP1", "UNE+1+GRP9", r"segment 30 \(UNE\): UNE reference 'GRP9' differs"),
        ("UNZ+1+REF1", "UNZ+2+REF1", r"segment 31 \(UNZ\): UNZ counts '2'"),
        ("UNZ+1+REF1'", "", r"segment 30 \(UNE\): interchange does not end with UNZ"),
        ("UNT+27+M1'", "", r"segment 29 \(UNE\): UNE inside a message \(UNH at segment 3\)"),
        ("DTM+329:740812", "DTM+329:741312", r"segment 13 \(DTM\): invalid date/time '19741312"),
        ("DTM+329:740812", "DTM+329:7408", r"segment 13 \(DTM\): invalid date '7408'"),
        ("ATT+2++F", "ATT+2++Q", r"segment 12 \(ATT\): invalid sex 'Q'"),
        (
            "NAD+FL+++ERIKSSON:ANNA MARIA",
            "NAD+FL+++:ANNA",
            r"segment 11 \(NAD\): traveller without",
        ),
        ("NAD+FL", "NAD+ZZ", r"segment 11 \(NAD\): unknown party qualifier 'ZZ'"),
        (
            "DOC+P:110:111+L898902C3",
            "DOC+P:110:111",
            r"segment 19 \(DOC\): document without a number",
        ),
        ("DOC+P:110:111", "DOC+Q:110:111", r"segment 19 \(DOC\): unknown document code 'Q'"),
        ("DOC+P+C01X00T47'", "", r"segment 26 \(DTM\)|segment 27"),  # visa DOC still there: valid
        ("TDT+20+BA123+++BA'", "", r"segment 3 \(UNH\): message has no TDT\+20"),
        ("DTM+232:2611211245:201'", "", r"message has no DTM\+232"),
        ("PAXLST:D:05B", "PAXLST:D:03B", r"segment 3 \(UNH\): unsupported PAXLST version 'D:03B'"),
        ("PAXLST:D:05B", "CUSRES:D:05B", r"message type 'CUSRES' is not PAXLST"),
        ("BGM+745", "BGM+999", r"segment 4 \(BGM\): unsupported document code '999'"),
        ("NAT+2+UTO", "NAT+2+UTOP", r"segment 16 \(NAT\): invalid state code 'UTOP'"),
        ("LOC+91+UTO", "LOC+91+U1O", r"segment 21 \(LOC\): invalid state code 'U1O'"),
        (
            "ATT+2++M'",
            "ATT+2++M'DTM+36:300415'",
            r"segment 24 \(DTM\): expiry date DTM\+36 outside",
        ),
        ("BGM+745'", "BGM+745'ATT+2++M'", r"segment 5 \(ATT\): ATT outside a traveller group"),
        ("UNZ+1+REF1'", "UNZ+1+REF1", r"segment 31 \(\?\): .*nexpected end"),
        ("CNT+42:2'", "CNT+42:2'FTX+AAP'", r"segment 29 \(FTX\): segment after the control total"),
        ("REF1++APIS'", "REF1++APIS'BGM+745'", r"segment 2 \(BGM\): segment outside a message"),
        ("UNB+UNOA:4", "UNX+UNOA:4", r"segment 1 \(UNX\): interchange does not start with UNB"),
        ("261121:0540+REF1", "261321:0540+REF1", r"segment 1 \(UNB\): invalid preparation date"),
        ("NAD+MS", "nAD+MS", r"segment 5 \(\?\): invalid segment tag 'nAD'"),
    ],
)
def test_malformed_messages_name_segment_and_reason(old: str, new: str, error: str) -> None:
    text = _corrupt(old, new)
    if error.startswith("segment 26"):  # removing a DOC group leaves a valid message
        assert len(parse_paxlst(text).travellers[1].documents) == 1
        return
    with pytest.raises(PaxlstError, match=error) as info:
        parse_paxlst(text)
    assert info.value.code == "paxlst_malformed"
    assert isinstance(info.value, EgateError)


def test_unknown_qualifiers_and_segments_are_ignored_with_a_warning() -> None:
    text = _corrupt("ATT+2++F'", "ATT+2++F'DTM+999:740812'XYZ+1'LOC+174+GBR'")
    m = parse_paxlst(text)
    assert m == parse_paxlst(EXAMPLE)
    assert [(w.segment, w.tag, w.reason) for w in m.warnings] == [
        (13, "DTM", "unknown date qualifier '999' ignored"),
        (14, "XYZ", "unknown segment XYZ ignored"),
    ]


def test_d02b_and_d05b_differ_in_the_doc_code_list() -> None:
    m = _manifest(travellers=1)
    d05b = write_paxlst(m)[0]
    d02b = write_paxlst(m, version="D:02B")[0]
    assert "DOC+P:110:111+" in d05b
    assert "PAXLST:D:02B:UN:IATA" in d02b
    assert "DOC+P+" in d02b
    assert parse_paxlst(d02b) == parse_paxlst(d05b) == m


def test_writer_layout_and_counts() -> None:
    text = write_paxlst(_manifest(travellers=2), line_breaks=True)[0]
    lines = text.splitlines()
    assert lines[:4] == [
        "UNA:+.? '",
        "UNB+UNOA:4+EGATESIM+EGATE+20261121:0930+1'",
        "UNG+PAXLST+EGATESIM+EGATE+20261121:0930+1+UN+D:05B'",
        "UNH+1+PAXLST:D:05B:UN:IATA+BA123/2611210930'",
    ]
    assert lines[-4:] == ["CNT+42:2'", f"UNT+{len(lines) - 5}+1'", "UNE+1+1'", "UNZ+1+1'"]


def test_two_digit_years_keep_centenarians() -> None:
    old = _traveller(0, birth=date(1920, 1, 2))
    young = _traveller(1, birth=date(2026, 1, 2))
    m = _manifest(travellers=0, extra=(old, young))
    text = write_paxlst(m)[0]
    assert "DTM+329:19200102:102'" in text
    assert "DTM+329:260102'" in text
    assert parse_paxlst(text) == m


def test_writer_refuses_what_it_cannot_write() -> None:
    with pytest.raises(PaxlstError, match="flight is empty") as info:
        write_paxlst(_manifest(travellers=1, flight=""))
    assert info.value.code == "manifest_invalid"
    with pytest.raises(PaxlstError, match="control character"):
        write_paxlst(_manifest(travellers=0, extra=(_traveller(0, surname="A\nB"),)))
    bad_code = replace(_traveller(0), nationality="GB1")
    with pytest.raises(
        PaxlstError, match=r"traveller 1: nationality code 'GB1' is not 1-3 letters"
    ):
        write_paxlst(_manifest(travellers=0, extra=(bad_code,)))
    empty_pnr = replace(_traveller(0), pnr="")
    with pytest.raises(PaxlstError, match=r"traveller 1: pnr is empty \(leave it None instead\)"):
        write_paxlst(_manifest(travellers=0, extra=(empty_pnr,)))
    with pytest.raises(PaxlstError, match="max_travellers_per_part 0 < 1"):
        write_paxlst(_manifest(travellers=1), max_travellers_per_part=0)


def test_character_set_follows_the_names() -> None:
    latin = write_paxlst(_manifest(travellers=0, extra=(_traveller(0, surname="MÜLLER"),)))[0]
    cyrillic = write_paxlst(_manifest(travellers=0, extra=(_traveller(0, surname="ИВАНОВ"),)))[0]
    assert "UNB+UNOC:4+" in latin
    assert "UNB+UNOW:4+" in cyrillic
    assert parse_paxlst(cyrillic).travellers[0].surname == "ИВАНОВ"


def test_traveller_from_a_read_document() -> None:
    doc = TravelDocument(
        format=DocumentType.TD3,
        code="P",
        issuer="UTO",
        number="L898902C3",
        surname="ERIKSSON",
        given_names="ANNA MARIA",
        nationality="UTO",
        birth_date=date(1974, 8, 12),
        sex=Sex.FEMALE,
        expiry_date=date(2012, 4, 15),
    )
    t = ManifestTraveller.from_document(doc)
    assert t.document == ManifestDocument(
        DocumentCode.PASSPORT, "L898902C3", "UTO", date(2012, 4, 15)
    )
    assert t.document.key == ("UTO", "L898902C3")
    assert (t.surname, t.given_names, t.birth_date, t.sex) == (
        "ERIKSSON",
        "ANNA MARIA",
        date(1974, 8, 12),
        Sex.FEMALE,
    )


# --- generated manifests -----------------------------------------------------


def _traveller(
    i: int, *, surname: str = "SMITH", birth: date | None = date(1980, 5, 6)
) -> ManifestTraveller:
    return ManifestTraveller(
        role=TravellerRole.PASSENGER,
        surname=surname,
        given_names=f"TRAVELLER {i}",
        sex=Sex.MALE,
        birth_date=birth,
        nationality="GBR",
        documents=(ManifestDocument(DocumentCode.PASSPORT, f"X{i:08d}", "GBR", date(2030, 1, 1)),),
    )


def _manifest(
    *, travellers: int, flight: str = "BA123", extra: tuple[ManifestTraveller, ...] = ()
) -> Manifest:
    return Manifest(
        flight=flight,
        carrier="BA",
        departure_airport="LHR",
        arrival_airport="JFK",
        departure_time=datetime(2026, 11, 21, 9, 30),
        arrival_time=datetime(2026, 11, 21, 12, 45),
        travellers=tuple(_traveller(i) for i in range(travellers)) + extra,
    )


NAME = st.text(alphabet=string.ascii_uppercase + " -'+:?", min_size=1, max_size=20).filter(
    lambda s: s[0] not in " :" and s[-1] != " "
)
GIVEN = st.text(alphabet=string.ascii_uppercase + "ÄÖÜÉØ '+:?", max_size=20)
CODE3 = st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3)
NUMBER = st.text(alphabet=string.ascii_uppercase + string.digits + "?'", min_size=1, max_size=12)
DATES = st.dates(min_value=date(1905, 1, 1), max_value=date(2060, 12, 31))
DOCUMENTS = st.builds(
    ManifestDocument,
    code=st.sampled_from(DocumentCode),
    number=NUMBER,
    issuer=st.none() | CODE3,
    expiry_date=st.none() | DATES,
)
TRAVELLERS = st.builds(
    ManifestTraveller,
    role=st.sampled_from(TravellerRole),
    surname=NAME,
    given_names=GIVEN,
    sex=st.none() | st.sampled_from(Sex),
    birth_date=st.none() | st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 21)),
    nationality=st.none() | CODE3,
    documents=st.lists(DOCUMENTS, max_size=3).map(tuple),
    embarkation=st.none() | CODE3,
    debarkation=st.none() | CODE3,
    pnr=st.none() | NUMBER,
    reference=st.none() | NUMBER,
)
TIMES = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda t: t.replace(second=0, microsecond=0)
)
MANIFESTS = st.builds(
    Manifest,
    flight=st.from_regex(r"[A-Z0-9]{2}[0-9]{1,4}", fullmatch=True),
    carrier=st.from_regex(r"[A-Z0-9]{2}", fullmatch=True),
    departure_airport=CODE3,
    arrival_airport=CODE3,
    departure_time=TIMES,
    arrival_time=TIMES,
    travellers=st.lists(TRAVELLERS, max_size=8).map(tuple),
    kind=st.sampled_from(ManifestKind),
    reporting_party=st.just("") | NAME,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    manifest=MANIFESTS,
    version=st.sampled_from(["D:02B", "D:05B"]),
    per_part=st.none() | st.integers(1, 4),
    una=st.booleans(),
    group=st.booleans(),
    line_breaks=st.booleans(),
    single=st.booleans(),
)
def test_write_then_parse_round_trips(
    manifest: Manifest,
    version: str,
    per_part: int | None,
    una: bool,
    group: bool,
    line_breaks: bool,
    single: bool,
) -> None:
    texts = write_paxlst(
        manifest,
        version=version,
        max_travellers_per_part=per_part,
        una=una,
        group=group,
        line_breaks=line_breaks,
        single_interchange=single,
    )
    assert parse_paxlst_parts(texts) == manifest
    assert parse_paxlst_parts(texts).warnings == ()


CORRUPTIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]),
        st.integers(0, 10_000),
        st.sampled_from(list("'+:?UNTCX90 \n")),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(manifest=MANIFESTS, corruptions=CORRUPTIONS)
def test_corrupted_messages_raise_paxlst_error_only(
    manifest: Manifest, corruptions: list[tuple[str, int, str]]
) -> None:
    text = write_paxlst(manifest)[0]
    for kind, where, char in corruptions:
        i = where % (len(text) + 1)
        if kind == "delete":
            text = text[:i] + text[i + 1 :]
        elif kind == "insert":
            text = text[:i] + char + text[i:]
        elif kind == "replace":
            text = text[:i] + char + text[i + 1 :]
        elif kind == "duplicate":
            text = text[:i] + text[i : i + 20] + text[i:]
        else:
            text = text[:i]
    try:
        result = parse_paxlst(text)
    except PaxlstError:
        return
    assert isinstance(result, Manifest)


ANY_TEXT = st.text(max_size=6)
WILD_TRAVELLERS = st.builds(
    ManifestTraveller,
    role=st.sampled_from(TravellerRole),
    surname=ANY_TEXT,
    given_names=ANY_TEXT,
    nationality=st.none() | ANY_TEXT,
    documents=st.lists(
        st.builds(
            ManifestDocument,
            code=st.sampled_from(DocumentCode),
            number=ANY_TEXT,
            issuer=st.none() | ANY_TEXT,
        ),
        max_size=2,
    ).map(tuple),
    embarkation=st.none() | ANY_TEXT,
    pnr=st.none() | ANY_TEXT,
)


@settings(max_examples=300, deadline=None)
@given(travellers=st.lists(WILD_TRAVELLERS, max_size=3), flight=ANY_TEXT, carrier=ANY_TEXT)
def test_writer_refuses_or_round_trips_any_values(
    travellers: list[ManifestTraveller], flight: str, carrier: str
) -> None:
    manifest = replace(_manifest(travellers=0, flight=flight), travellers=tuple(travellers))
    manifest = replace(manifest, carrier=carrier)
    try:
        texts = write_paxlst(manifest)
    except ManifestValueError:
        return
    assert parse_paxlst_parts(texts) == manifest
