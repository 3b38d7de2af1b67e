"""MRZ parsing and writing (egate.mrz) on the ICAO Doc 9303 specimens and on
hypothesis-generated documents."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egate import EgateError
from egate.documents import DocumentType, Sex, TravelDocument
from egate.mrz import (
    EXPIRY_HORIZON_YEARS,
    MrzCheckDigitError,
    MrzEncodeError,
    MrzError,
    MrzFormatError,
    OcrConfusion,
    check_digit,
    format_mrz,
    parse_mrz,
)

TODAY = date(2026, 6, 15)

# ICAO Doc 9303 specimens: part 4 (TD3), part 5 (TD1, and TD1 with a 12-character
# document number), part 6 (TD2), part 7 (MRV-A, MRV-B).
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)
TD1_LONG = (
    "I<UTOD23145890<7349<<<<<<<<<<<\n3407127M9507122UTO<<<<<<<<<<<2\nSTEVENSON<<PETER<JOHN<<<<<<<<<"
)
TD2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"
MRV_A = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL8988901C4XXX4009078F96121096ZE184226B<<<<<<"
MRV_B = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nL8988901C4XXX4009078F9612109<<<<<<<<"

ANNA = TravelDocument(
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
    optional_data="ZE184226B",
)
ANNA_VISA = dataclasses.replace(
    ANNA,
    format=DocumentType.MRV_A,
    code="V",
    number="L8988901C",
    nationality="XXX",
    birth_date=date(1940, 9, 7),
    expiry_date=date(1996, 12, 10),
    optional_data="6ZE184226B",
)

SPECIMENS = {
    TD3: ANNA,
    TD1: dataclasses.replace(
        ANNA, format=DocumentType.TD1, code="I", number="D23145890", optional_data=""
    ),
    TD1_LONG: TravelDocument(
        format=DocumentType.TD1,
        code="I",
        issuer="UTO",
        number="D23145890734",
        surname="STEVENSON",
        given_names="PETER JOHN",
        nationality="UTO",
        birth_date=date(1934, 7, 12),
        sex=Sex.MALE,
        expiry_date=date(1995, 7, 12),
    ),
    TD2: dataclasses.replace(
        ANNA, format=DocumentType.TD2, code="I", number="D23145890", optional_data=""
    ),
    MRV_A: ANNA_VISA,
    MRV_B: dataclasses.replace(ANNA_VISA, format=DocumentType.MRV_B, optional_data=""),
}


def test_check_digit_matches_the_specimen_digits() -> None:
    assert check_digit("L898902C3") == 6
    assert check_digit("740812") == 2
    assert check_digit("120415") == 9
    assert check_digit("ZE184226B<<<<<") == 1
    assert check_digit("L898902C36" + "7408122" + "120415" + "9ZE184226B<<<<<1") == 0
    assert check_digit("") == 0


def test_check_digit_rejects_characters_outside_the_mrz_alphabet() -> None:
    with pytest.raises(MrzFormatError, match="illegal character for a check digit") as info:
        check_digit("AB-1")
    assert info.value.value == "-"


@pytest.mark.parametrize(("text", "expected"), SPECIMENS.items())
def test_icao_specimens_parse_to_their_fields(text: str, expected: TravelDocument) -> None:
    assert parse_mrz(text, today=TODAY) == expected


@pytest.mark.parametrize(("text", "doc"), SPECIMENS.items())
def test_format_mrz_writes_the_specimens_back(text: str, doc: TravelDocument) -> None:
    assert format_mrz(doc) == text


def test_surrounding_whitespace_and_crlf_are_ignored() -> None:
    assert parse_mrz("\r\n  " + TD3.replace("\n", "\r\n") + "\n\n", today=TODAY) == ANNA


def test_errors_are_egate_errors_with_codes() -> None:
    assert issubclass(MrzError, EgateError)
    assert MrzFormatError.code == "mrz_format"
    assert MrzCheckDigitError.code == "mrz_check_digit"


@pytest.mark.parametrize(
    ("text", "lengths"),
    [
        (TD3[:-1], "44 x 43"),
        (TD3.split("\n")[0], "44"),
        (TD1 + "\n" + "<" * 30, "30 x 30 x 30 x 30"),
        ("", "no lines"),
        ("A\n" * 1000, r"1 x 1 x 1 x 1 x \.\.\. \(1000 lines\)"),
    ],
)
def test_wrong_shape_is_a_format_error(text: str, lengths: str) -> None:
    with pytest.raises(MrzFormatError, match=f"found line lengths {lengths}"):
        parse_mrz(text, today=TODAY)


def test_illegal_character_names_line_and_column() -> None:
    with pytest.raises(MrzFormatError, match=r"line 1, column 7: names allows letters") as info:
        parse_mrz(TD3.replace("ERIKSSON", "ErIKSSON"), today=TODAY)
    assert (info.value.line, info.value.column, info.value.value) == (1, 7, "r")
    assert info.value.field == "names"


@pytest.mark.parametrize(
    ("text", "field", "expected", "found", "column"),
    [
        (TD3.replace("7408122F", "7408123F"), "birth_date", 2, "3", 20),
        (TD3.replace("1204159ZE", "1204158ZE"), "expiry_date", 9, "8", 28),
        (TD3.replace("L898902C36", "L898902C35"), "document_number", 6, "5", 10),
        (TD3.replace("226B<<<<<10", "226B<<<<<20"), "optional_data", 1, "2", 43),
        (TD3.replace("226B<<<<<10", "226B<<<<<<0"), "optional_data", 1, "<", 43),
        (TD3[:-1] + "7", "composite", 0, "7", 44),
    ],
)
def test_check_digit_errors_name_field_digit_and_position(
    text: str, field: str, expected: int, found: str, column: int
) -> None:
    message = f"check digit for {field} failed at line 2, column {column}: expected {expected}"
    with pytest.raises(MrzCheckDigitError, match=message) as info:
        parse_mrz(text, today=TODAY)
    error = info.value
    assert (error.field, error.expected, error.found, error.line, error.column) == (
        field,
        expected,
        found,
        2,
        column,
    )


def test_td1_composite_covers_the_optional_data_of_line_one() -> None:
    with pytest.raises(MrzCheckDigitError, match="composite") as info:
        parse_mrz(TD1.replace("D231458907<<<", "D231458907B<<"), today=TODAY)
    assert (info.value.line, info.value.column) == (2, 30)


def test_unused_personal_number_takes_filler_or_zero_as_check_digit() -> None:
    blank = dataclasses.replace(ANNA, optional_data="")
    text = format_mrz(blank)
    assert text.split("\n")[1][28:43] == "<" * 15  # empty field, then `<` as its digit
    zero = text[:-2] + "0" + text[-1]
    assert parse_mrz(text, today=TODAY) == blank
    assert parse_mrz(zero, today=TODAY) == blank


def test_mrv_has_no_composite_and_unprotected_optional_data() -> None:
    changed = MRV_A.replace("6ZE184226B", "6ZE184226C")
    assert parse_mrz(changed, today=TODAY).optional_data == "6ZE184226C"


def test_overflow_without_continuation_is_a_format_error() -> None:
    text = TD1.replace("D231458907<<<", "D23145890<<<<")
    with pytest.raises(MrzFormatError, match="number continues in optional data") as info:
        parse_mrz(text, today=TODAY)
    assert (info.value.line, info.value.column) == (1, 16)


def test_overflow_check_digit_is_verified_over_the_whole_number() -> None:
    with pytest.raises(MrzCheckDigitError, match="document_number") as info:
        parse_mrz(TD1_LONG.replace("<7349<", "<7348<").replace("<<2\n", "<<1\n"), today=TODAY)
    assert (info.value.expected, info.value.found, info.value.column) == (9, "8", 19)


def test_td3_number_check_digit_cannot_be_a_filler() -> None:
    text = TD3.replace("L898902C36", "L898902C3<")
    with pytest.raises(MrzCheckDigitError, match=r"document_number.*found '<'"):
        parse_mrz(text, today=TODAY)


def test_letter_o_in_a_date_is_reported_as_ocr_confusion_not_fixed() -> None:
    text = TD3.replace("7408122F", "74O8122F")
    with pytest.raises(MrzFormatError, match="birth_date allows digits") as info:
        parse_mrz(text, today=TODAY)
    assert info.value.suspected_ocr_confusion == (OcrConfusion(2, 16, "O", "0"),)
    assert "suspected OCR confusion: line 2 column 16: 'O' may be '0'" in str(info.value)


def test_digit_in_a_name_is_reported_as_ocr_confusion() -> None:
    text = TD3.replace("ERIKSSON", "ER1KSS0N")
    with pytest.raises(MrzFormatError, match="line 1, column 8") as info:
        parse_mrz(text, today=TODAY)
    assert info.value.suspected_ocr_confusion == (
        OcrConfusion(1, 8, "1", "I"),
        OcrConfusion(1, 12, "0", "O"),
    )


def test_o_for_zero_in_document_number_fails_its_digit_and_is_hinted() -> None:
    text = TD3.replace("L898902C3", "L8989O2C3")
    with pytest.raises(MrzCheckDigitError, match="document_number") as info:
        parse_mrz(text, today=TODAY)
    assert OcrConfusion(2, 6, "O", "0") in info.value.suspected_ocr_confusion


def test_invalid_calendar_date_is_a_format_error() -> None:
    line2 = "L898902C36UTO741312" + str(check_digit("741312")) + "F1204159ZE184226B<<<<<1"
    line2 += str(check_digit(line2[:10] + line2[13:20] + line2[21:43]))
    text = TD3.split("\n")[0] + "\n" + line2
    with pytest.raises(MrzFormatError, match=r"birth_date is not a calendar date.*'741312'"):
        parse_mrz(text, today=TODAY)


@pytest.mark.parametrize(
    ("birth", "expected"),
    [("260615", date(2026, 6, 15)), ("260616", date(1926, 6, 16)), ("000229", date(2000, 2, 29))],
)
def test_birth_dates_are_never_in_the_future(birth: str, expected: date) -> None:
    doc = dataclasses.replace(ANNA, birth_date=expected)
    assert birth in format_mrz(doc)
    assert parse_mrz(format_mrz(doc), today=TODAY).birth_date == expected


@pytest.mark.parametrize(
    "expiry", [date(2046, 6, 15), date(1946, 6, 16), date(2030, 1, 1), date(1999, 12, 31)]
)
def test_expiry_dates_reach_the_horizon_ahead(expiry: date) -> None:
    assert EXPIRY_HORIZON_YEARS == 20
    doc = dataclasses.replace(ANNA, expiry_date=expiry)
    assert parse_mrz(format_mrz(doc), today=TODAY).expiry_date == expiry


def test_a_full_name_field_is_flagged_truncated() -> None:
    doc = dataclasses.replace(
        ANNA, surname="WOLFESCHLEGELSTEINHAUSENBERGERDORFF", given_names="HUBERT"
    )
    text = format_mrz(doc)
    assert text.split("\n")[0] == "P<UTOWOLFESCHLEGELSTEINHAUSENBERGERDORFF<<HU"
    parsed = parse_mrz(text, today=TODAY)
    assert (parsed.surname, parsed.given_names, parsed.names_truncated) == (
        "WOLFESCHLEGELSTEINHAUSENBERGERDORFF",
        "HU",
        True,
    )
    assert TravelDocument.from_json(parsed.as_json()).names_truncated
    assert not parse_mrz(TD3, today=TODAY).names_truncated


def test_hyphens_and_apostrophes_are_written_as_doc_9303_says() -> None:
    doc = dataclasses.replace(ANNA, surname="O'BRIEN-SMITH", given_names="ANNE MARIE")
    assert format_mrz(doc).startswith("P<UTOOBRIEN<SMITH<<ANNE<MARIE<<")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"number": "L898902C3456"}, "document_number.*longer than 9 characters"),
        ({"code": "V"}, "only visa codes start with V"),
        ({"optional_data_2": "X"}, "only TD1 has a second one"),
        ({"issuer": "ut"}, "issuer 'ut'.*'u' is not allowed"),
        ({"surname": ""}, "must start with a letter"),
        ({"optional_data": "A" * 15}, "longer than the 14 characters"),
    ],
)
def test_format_mrz_refuses_what_does_not_fit(change: dict[str, str], match: str) -> None:
    with pytest.raises(MrzEncodeError, match=match):
        format_mrz(dataclasses.replace(ANNA, **change))  # type: ignore[arg-type]


# --- hypothesis ------------------------------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
NAME_WIDTH = {"TD1": 30, "TD2": 31, "TD3": 39, "MRV-A": 39, "MRV-B": 31}
OPTIONAL_WIDTH = {"TD1": 15, "TD2": 7, "TD3": 14, "MRV-A": 16, "MRV-B": 8}
OVERFLOW = {"TD1", "TD2"}  # Doc 9303 parts 5 and 6


def _optional(max_size: int) -> st.SearchStrategy[str]:
    return st.text(LETTERS + DIGITS + "<", max_size=max_size).map(lambda s: s.rstrip("<"))


@st.composite
def documents(draw: st.DrawFn, fmt: DocumentType | None = None) -> TravelDocument:
    fmt = fmt or draw(st.sampled_from(DocumentType))
    visa = fmt in (DocumentType.MRV_A, DocumentType.MRV_B)
    code = draw(st.sampled_from(["V", "VA", "VB"] if visa else ["P", "PM", "I", "ID", "AC", "C"]))
    word = st.text(LETTERS, min_size=1, max_size=9)
    surname = " ".join(draw(st.lists(word, min_size=1, max_size=3)))
    given = " ".join(draw(st.lists(word, max_size=3)))
    width = NAME_WIDTH[fmt.value]
    if len(surname) + (len(given) + 2 if given else 0) >= width:
        given = ""
        surname = surname[: width - 1].rstrip()
    longest = 9 + OPTIONAL_WIDTH[fmt.value] - 2 if fmt.value in OVERFLOW else 9
    number = draw(st.text(LETTERS + DIGITS, max_size=longest))
    room = OPTIONAL_WIDTH[fmt.value] - (len(number) - 9 + 2 if len(number) > 9 else 0)
    code3 = st.text(LETTERS, min_size=1, max_size=3).map(lambda s: s.ljust(3, "<"))
    return TravelDocument(
        format=fmt,
        code=code,
        issuer=draw(code3),
        number=number,
        surname=surname,
        given_names=given,
        nationality=draw(code3),
        birth_date=draw(st.dates(date(1926, 6, 16), TODAY)),
        sex=draw(st.sampled_from(Sex)),
        expiry_date=draw(st.dates(date(1946, 6, 16), date(2046, 6, 15))),
        optional_data=draw(_optional(room)),
        optional_data_2=draw(_optional(11)) if fmt is DocumentType.TD1 else "",
    )


@given(documents())
def test_format_then_parse_round_trips(doc: TravelDocument) -> None:
    text = format_mrz(doc)
    parsed = parse_mrz(text, today=TODAY)
    assert parsed == doc
    assert format_mrz(parsed) == text
    assert TravelDocument.from_json(parsed.as_json()) == parsed


# What Doc 9303 protects, written out from its tables (independently of egate.mrz):
# (line, first column, end column, alphabet, covered by a check digit or the composite).
ALPHA, NUM, ALNUM, CHECK, SEX = LETTERS + "<", DIGITS, LETTERS + DIGITS + "<", DIGITS + "<", "MFX<"


def _two_line(
    width: int, optional: int, td3: bool, composite: bool
) -> list[tuple[int, int, int, str, bool]]:
    plan = [(0, 0, 5, ALPHA, False), (0, 5, width, ALPHA, False)]
    plan += [(1, 0, 9, ALNUM, True), (1, 9, 10, CHECK, True), (1, 10, 13, ALPHA, False)]
    plan += [(1, 13, 19, NUM, True), (1, 19, 20, CHECK, True), (1, 20, 21, SEX, False)]
    plan += [(1, 21, 27, NUM, True), (1, 27, 28, CHECK, True)]
    plan += [(1, 28, 28 + optional, ALNUM, td3 or composite)]
    plan += [(1, 28 + optional, width, CHECK, True)] if td3 or composite else []
    return plan


PROTECTION = {
    DocumentType.TD3: _two_line(44, 14, td3=True, composite=True),
    DocumentType.TD2: _two_line(36, 7, td3=False, composite=True),
    DocumentType.MRV_A: _two_line(44, 16, td3=False, composite=False),
    DocumentType.MRV_B: _two_line(36, 8, td3=False, composite=False),
    DocumentType.TD1: [
        (0, 0, 5, ALPHA, False),
        (0, 5, 14, ALNUM, True),
        (0, 14, 15, CHECK, True),
        (0, 15, 30, ALNUM, True),
        (1, 0, 6, NUM, True),
        (1, 6, 7, CHECK, True),
        (1, 7, 8, SEX, False),
        (1, 8, 14, NUM, True),
        (1, 14, 15, CHECK, True),
        (1, 15, 18, ALPHA, False),
        (1, 18, 29, ALNUM, True),
        (1, 29, 30, CHECK, True),
        (2, 0, 30, ALPHA, False),
    ],
}
VALUE = {c: i for i, c in enumerate(DIGITS + LETTERS)} | {"<": 0}
SUBSTITUTES = ALNUM + "a- É"  # the MRZ alphabet plus characters it never holds


def guaranteed_detection(fmt: DocumentType, line: int, column: int, old: str, new: str) -> bool:
    """Whether Doc 9303 guarantees that replacing `old` by `new` at (line, column) is
    detected. A character outside the field's alphabet always is (format error). Inside
    a field covered by a check digit (7-3-1 weights, mod 10; 7 and 3 are prime to 10),
    a change is detected exactly when the two character values differ by other than a
    multiple of 10: 0/A/K/U/<, 1/B/L/V, ... are interchangeable as far as the digits
    see. Names, issuer, nationality, sex, document code and MRV optional data are
    covered by nothing: a substitution inside their alphabet is undetectable."""
    for plan_line, start, end, alphabet, protected in PROTECTION[fmt]:
        if plan_line == line and start <= column < end:
            if new not in alphabet:
                return True
            return protected and (VALUE[old] - VALUE[new]) % 10 != 0
    raise AssertionError(f"position {line},{column} missing from the plan")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_single_character_substitution_is_caught_where_the_standard_guarantees(
    doc: TravelDocument,
) -> None:
    lines = format_mrz(doc).split("\n")
    for line, text in enumerate(lines):
        for column, old in enumerate(text):
            for new in SUBSTITUTES.replace(old, ""):
                changed = text[:column] + new + text[column + 1 :]
                corrupted = "\n".join([*lines[:line], changed, *lines[line + 1 :]])
                if guaranteed_detection(doc.format, line, column, old, new):
                    with pytest.raises(MrzError):
                        parse_mrz(corrupted, today=TODAY)
                else:  # not guaranteed: may parse, but only ever fails with a typed error
                    with contextlib.suppress(MrzError):
                        parse_mrz(corrupted, today=TODAY)


def test_unprotected_positions_really_are_unprotected() -> None:
    """Stated plainly: a letter-for-letter change in names, nationality or sex parses."""
    lines = TD3.split("\n")
    names = lines[0].replace("ANNA", "ANNE")
    nationality = lines[1][:10] + "UTA" + lines[1][13:20] + "M" + lines[1][21:]
    parsed = parse_mrz(names + "\n" + nationality, today=TODAY)
    assert (parsed.given_names, parsed.nationality, parsed.sex) == ("ANNE MARIA", "UTA", Sex.MALE)


def test_value_congruent_substitution_in_the_number_escapes_every_digit() -> None:
    """0 and A both weigh 0 mod 10: Doc 9303's digits cannot see this change."""
    changed = TD3.replace("L898902C3", "L8989A2C3")
    assert parse_mrz(changed, today=TODAY).number == "L8989A2C3"


@given(st.text(alphabet=ALNUM + "\n a", max_size=140))
def test_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(MrzError):
        parse_mrz(text, today=TODAY)


def _substitutions(text: str) -> list[tuple[int, int, str, str, str]]:
    """(line, column, old, new, corrupted text) for every single-character substitution."""
    lines = text.split("\n")
    found = []
    for line, row in enumerate(lines):
        for column, old in enumerate(row):
            for new in SUBSTITUTES.replace(old, ""):
                changed = row[:column] + new + row[column + 1 :]
                found.append(
                    (
                        line,
                        column,
                        old,
                        new,
                        "\n".join([*lines[:line], changed, *lines[line + 1 :]]),
                    )
                )
    return found


@pytest.mark.parametrize(("text", "doc"), SPECIMENS.items())
def test_every_substitution_of_the_specimens(text: str, doc: TravelDocument) -> None:
    """Exhaustive on the ICAO specimens: every guaranteed detection happens, and any
    substitution that parses changed the document (the zone never reads two ways)."""
    for line, column, old, new, corrupted in _substitutions(text):
        try:
            parsed = parse_mrz(corrupted, today=TODAY)
        except MrzError:
            continue
        assert not guaranteed_detection(doc.format, line, column, old, new), (line, column, new)
        equivalent = {old, new} == {"<", "0"}  # both weigh 0: a filler-or-zero check digit
        assert parsed != doc or equivalent, (line, column, new)
