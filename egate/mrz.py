"""Machine-readable zone of ICAO Doc 9303 (parts 3-7): parse, validate and write.

Formats are recognised by shape: TD1 3 x 30, TD2 2 x 36, TD3 2 x 44; a first
character `V` on a 2 x 44 / 2 x 36 zone makes it a visa (MRV-A / MRV-B).
Every check digit and the composite are verified; nothing is silently
corrected. Characters that OCR engines typically confuse (O/0, I/1, ...) are
reported in the error as `suspected_ocr_confusion`, never fixed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from itertools import cycle

from egate import EgateError
from egate.documents import DocumentType, Sex, TravelDocument

#: Expiry dates are read in the latest century that puts them at most this many
#: years after today. Doc 9303 leaves validity to the issuer; passports run 10 years,
#: so 20 keeps every valid document in the right century with margin, while a
#: document that expired up to 80 years ago still reads as expired.
EXPIRY_HORIZON_YEARS = 20

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_FILLER = "<"

# Doc 9303 part 3, 4.9: `<` counts 0, 0-9 their value, A-Z 10-35; weights 7, 3, 1.
_VALUES = {c: int(c) for c in _DIGITS} | {c: ord(c) - 55 for c in _LETTERS} | {_FILLER: 0}
_WEIGHTS = (7, 3, 1)

# OCR-B glyphs that scanners confuse; used for hints only.
_LETTER_FOR_DIGIT = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
_DIGIT_FOR_LETTER = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5"}
_DIGIT_FOR_LETTER |= {"G": "6", "B": "8"}


class MrzError(EgateError):
    """Root of the MRZ errors; `suspected_ocr_confusion` lists likely misreads."""

    code = "mrz_invalid"
    suspected_ocr_confusion: tuple[OcrConfusion, ...] = ()


@dataclass(frozen=True, slots=True)
class OcrConfusion:
    """A character that is probably an OCR misread: at `line`/`column` (1-based)
    the zone holds `found` where the field's alphabet suggests `likely`."""

    line: int
    column: int
    found: str
    likely: str

    def __str__(self) -> str:
        return f"line {self.line} column {self.column}: {self.found!r} may be {self.likely!r}"


class MrzFormatError(MrzError):
    """The zone has the wrong shape or a character that its field does not allow.

    `line` and `column` are 1-based (None when the error is not about one position);
    `value` is the offending text (a line, a field or a character)."""

    code = "mrz_format"

    def __init__(
        self,
        reason: str,
        *,
        value: str,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        suspected_ocr_confusion: tuple[OcrConfusion, ...] = (),
    ) -> None:
        self.reason = reason
        self.value = value
        self.line = line
        self.column = column
        self.field = field
        self.suspected_ocr_confusion = suspected_ocr_confusion
        where = f"line {line}, column {column}: " if column is not None else ""
        if line is not None and column is None:
            where = f"line {line}: "
        hint = _hint_text(suspected_ocr_confusion)
        shown = value if len(value) <= 100 else value[:100] + "..."
        super().__init__(f"MRZ format: {where}{reason} ({shown!r}){hint}")


class MrzCheckDigitError(MrzError):
    """A check digit does not match its field: `field` names the field it protects
    ("document_number", "birth_date", "expiry_date", "optional_data", "composite"),
    `expected` is the digit computed from the data, `found` the character read."""

    code = "mrz_check_digit"

    def __init__(
        self,
        field: str,
        *,
        expected: int,
        found: str,
        line: int,
        column: int,
        suspected_ocr_confusion: tuple[OcrConfusion, ...] = (),
    ) -> None:
        self.field = field
        self.expected = expected
        self.found = found
        self.value = found
        self.line = line
        self.column = column
        self.suspected_ocr_confusion = suspected_ocr_confusion
        hint = _hint_text(suspected_ocr_confusion)
        super().__init__(
            f"MRZ check digit for {field} failed at line {line}, column {column}: "
            f"expected {expected}, found {found!r}{hint}"
        )


class MrzEncodeError(MrzError):
    """A TravelDocument field cannot be written into the zone (too long, bad character)."""

    code = "mrz_encode"

    def __init__(self, field: str, value: str, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"cannot write {field} {value!r} into the MRZ: {reason}")


def _hint_text(confusions: tuple[OcrConfusion, ...]) -> str:
    if not confusions:
        return ""
    return "; suspected OCR confusion: " + ", ".join(str(c) for c in confusions)


def check_digit(s: str) -> int:
    """Doc 9303 check digit (0-9) of `s` (characters A-Z, 0-9 and `<`)."""
    try:
        return sum(_VALUES[c] * w for c, w in zip(s, cycle(_WEIGHTS))) % 10
    except KeyError as e:
        raise MrzFormatError("illegal character for a check digit", value=e.args[0]) from None


class _Chars(enum.Enum):
    """What a field may hold."""

    ALPHA = "letters and <"
    NUMERIC = "digits"
    ALPHANUMERIC = "letters, digits and <"
    CHECK = "a digit or <"
    SEX = "M, F, X or <"


_ALPHABETS = {
    _Chars.ALPHA: _LETTERS | {_FILLER},
    _Chars.NUMERIC: _DIGITS,
    _Chars.ALPHANUMERIC: _LETTERS | _DIGITS | {_FILLER},
    _Chars.CHECK: _DIGITS | {_FILLER},
    _Chars.SEX: frozenset("MFX<"),
}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    line: int  # 0-based
    start: int  # 0-based
    length: int
    chars: _Chars
    alphabet: frozenset[str]

    def allows(self, c: str) -> bool:
        return c in self.alphabet

    def wants_digit(self) -> bool:
        return self.chars in (_Chars.NUMERIC, _Chars.CHECK)


@dataclass(frozen=True, slots=True)
class _Layout:
    format: DocumentType
    lines: int
    width: int
    fields: dict[str, _Field]
    # (line, start, end) slices whose concatenation the composite digit covers
    composite: tuple[tuple[int, int, int], ...] = ()
    number_overflow: bool = False  # Doc 9303 parts 5 and 6: long numbers spill into optional data


def _f(name: str, line: int, start: int, length: int, chars: _Chars) -> tuple[str, _Field]:
    return name, _Field(name, line, start, length, chars, _ALPHABETS[chars])


A, N, AN, CD, SX = _Chars.ALPHA, _Chars.NUMERIC, _Chars.ALPHANUMERIC, _Chars.CHECK, _Chars.SEX


def _two_line(fmt: DocumentType, width: int, optional_len: int, composite: bool) -> _Layout:
    """TD2, TD3, MRV-A and MRV-B share one plan (Doc 9303 parts 4, 6, 7)."""
    fields = dict(
        [
            _f("code", 0, 0, 2, A),
            _f("issuer", 0, 2, 3, A),
            _f("names", 0, 5, width - 5, A),
            _f("document_number", 1, 0, 9, AN),
            _f("document_number_check", 1, 9, 1, CD),
            _f("nationality", 1, 10, 3, A),
            _f("birth_date", 1, 13, 6, N),
            _f("birth_date_check", 1, 19, 1, CD),
            _f("sex", 1, 20, 1, SX),
            _f("expiry_date", 1, 21, 6, N),
            _f("expiry_date_check", 1, 27, 1, CD),
            _f("optional_data", 1, 28, optional_len, AN),
        ]
    )
    end = 28 + optional_len
    if fmt is DocumentType.TD3:
        fields.update([_f("optional_data_check", 1, end, 1, CD)])
        end += 1
    if composite:
        fields.update([_f("composite_check", 1, end, 1, CD)])
        spans = ((1, 0, 10), (1, 13, 20), (1, 21, end))
        return _Layout(fmt, 2, width, fields, spans, number_overflow=fmt is DocumentType.TD2)
    return _Layout(fmt, 2, width, fields)


_TD1 = _Layout(
    DocumentType.TD1,
    3,
    30,
    dict(
        [
            _f("code", 0, 0, 2, A),
            _f("issuer", 0, 2, 3, A),
            _f("document_number", 0, 5, 9, AN),
            _f("document_number_check", 0, 14, 1, CD),
            _f("optional_data", 0, 15, 15, AN),
            _f("birth_date", 1, 0, 6, N),
            _f("birth_date_check", 1, 6, 1, CD),
            _f("sex", 1, 7, 1, SX),
            _f("expiry_date", 1, 8, 6, N),
            _f("expiry_date_check", 1, 14, 1, CD),
            _f("nationality", 1, 15, 3, A),
            _f("optional_data_2", 1, 18, 11, AN),
            _f("composite_check", 1, 29, 1, CD),
            _f("names", 2, 0, 30, A),
        ]
    ),
    composite=((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)),
    number_overflow=True,
)

LAYOUTS: dict[DocumentType, _Layout] = {
    DocumentType.TD1: _TD1,
    DocumentType.TD2: _two_line(DocumentType.TD2, 36, 7, composite=True),
    DocumentType.TD3: _two_line(DocumentType.TD3, 44, 14, composite=True),
    DocumentType.MRV_A: _two_line(DocumentType.MRV_A, 44, 16, composite=False),
    DocumentType.MRV_B: _two_line(DocumentType.MRV_B, 36, 8, composite=False),
}


def _layout_for(lines: list[str]) -> _Layout:
    shape = (len(lines), len(lines[0]) if lines else 0)
    if lines and all(len(line) == shape[1] for line in lines):
        visa = lines[0].startswith("V")
        if shape == (3, 30):
            return _TD1
        if shape == (2, 44):
            return LAYOUTS[DocumentType.MRV_A if visa else DocumentType.TD3]
        if shape == (2, 36):
            return LAYOUTS[DocumentType.MRV_B if visa else DocumentType.TD2]
    found = " x ".join(str(len(line)) for line in lines[:4]) or "no lines"
    if len(lines) > 4:
        found = f"{found} x ... ({len(lines)} lines)"
    raise MrzFormatError(
        "expected 3 lines of 30 (TD1), 2 of 36 (TD2, MRV-B) or 2 of 44 (TD3, MRV-A) characters;"
        f" found line lengths {found}",
        value="\n".join(lines),
    )


class _Zone:
    """The zone's lines with positional access by field."""

    def __init__(self, lines: list[str], layout: _Layout) -> None:
        self.lines = lines
        self.layout = layout

    def __getitem__(self, name: str) -> str:
        f = self.layout.fields[name]
        return self.lines[f.line][f.start : f.start + f.length]

    def position(self, name: str, offset: int = 0) -> tuple[int, int]:
        """1-based (line, column) of character `offset` of field `name`."""
        f = self.layout.fields[name]
        return f.line + 1, f.start + offset + 1


def _ocr_confusions(zone: _Zone) -> tuple[OcrConfusion, ...]:
    """Every position where a field holds a character of the wrong kind that OCR-B
    readers commonly produce in place of a right one."""
    found = []
    for f in zone.layout.fields.values():
        for i, c in enumerate(zone[f.name]):
            table = _DIGIT_FOR_LETTER if f.wants_digit() else _LETTER_FOR_DIGIT
            if f.chars is not _Chars.ALPHANUMERIC and not f.allows(c) and c in table:
                found.append(OcrConfusion(f.line + 1, f.start + i + 1, c, table[c]))
    return tuple(found)


def _check_characters(zone: _Zone) -> None:
    for f in zone.layout.fields.values():
        text = zone[f.name]
        if f.alphabet.issuperset(text):
            continue
        for i, c in enumerate(text):
            if not f.allows(c):
                hints = _ocr_confusions(zone)  # only on the error path: it scans the zone
                line, column = zone.position(f.name, i)
                raise MrzFormatError(
                    f"{f.name} allows {f.chars.value}",
                    value=c,
                    line=line,
                    column=column,
                    field=f.name,
                    suspected_ocr_confusion=hints,
                )
    for name in ("code", "names"):
        if zone[name].startswith(_FILLER):
            line, column = zone.position(name)
            raise MrzFormatError(
                f"{name} must start with a letter", value=zone[name], line=line, column=column
            )


def _swap_hints(data: str, expected_digit: str, zone: _Zone, name: str) -> tuple[OcrConfusion, ...]:
    """Single O/0-style swaps in `data` that would make its check digit right."""
    hints = []
    swaps = _DIGIT_FOR_LETTER | _LETTER_FOR_DIGIT
    for i, c in enumerate(data):
        if c in swaps:
            fixed = data[:i] + swaps[c] + data[i + 1 :]
            if str(check_digit(fixed)) == expected_digit:
                line, column = _data_position(zone, name, i)
                hints.append(OcrConfusion(line, column, c, swaps[c]))
    return tuple(hints)


def _data_position(zone: _Zone, name: str, i: int) -> tuple[int, int]:
    f = zone.layout.fields[name]
    if i < f.length:
        return zone.position(name, i)
    # an overflowing document number continues at the start of optional data
    return zone.position("optional_data", i - f.length)


def _verify(
    zone: _Zone, field: str, data: str, digit_field: str, *, offset: int = 0, hints: bool = False
) -> None:
    """Compare check digit character `offset` of `digit_field` with `data`'s; with
    `hints`, name the OCR swaps in field `field` that would make them agree."""
    found = zone[digit_field][offset]
    expected = check_digit(data)
    if found == str(expected):
        return
    line, column = zone.position(digit_field, offset)
    swaps = _swap_hints(data, found, zone, field) if hints else ()
    raise MrzCheckDigitError(
        field,
        expected=expected,
        found=found,
        line=line,
        column=column,
        suspected_ocr_confusion=swaps,
    )


def _document_number(zone: _Zone) -> tuple[str, str]:
    """(document number, optional data) with the overflow rule of Doc 9303 parts 5/6:
    a `<` in place of the number's check digit means the number continues in the
    optional data, followed by the check digit over the whole number and a `<`."""
    principal, optional = zone["document_number"], zone["optional_data"]
    if zone["document_number_check"] != _FILLER or not zone.layout.number_overflow:
        _verify(zone, "document_number", principal, "document_number_check", hints=True)
        return principal.rstrip(_FILLER), optional.rstrip(_FILLER)
    end = optional.find(_FILLER)
    line, column = zone.position("optional_data")
    if end < 2 or _FILLER in principal:
        raise MrzFormatError(
            "document number check digit is '<' (number continues in optional data) but "
            "optional data holds no continuation and check digit before a '<'",
            value=optional,
            line=line,
            column=column,
            field="optional_data",
        )
    number, digit = principal + optional[: end - 1], optional[end - 1]
    if digit not in _DIGITS:
        raise MrzFormatError(
            "check digit of the overflowing document number must be a digit",
            value=digit,
            line=line,
            column=column + end - 1,
            field="optional_data",
        )
    _verify(zone, "document_number", number, "optional_data", offset=end - 1, hints=True)
    return number, optional[end + 1 :].rstrip(_FILLER)


def _check_digits(zone: _Zone) -> tuple[str, str]:
    number, optional = _document_number(zone)
    _verify(zone, "birth_date", zone["birth_date"], "birth_date_check")
    _verify(zone, "expiry_date", zone["expiry_date"], "expiry_date_check")
    fields = zone.layout.fields
    if "optional_data_check" in fields:
        # Doc 9303 part 4: an unused personal number may carry `<` (or 0) as its digit
        unused = zone["optional_data"] == _FILLER * fields["optional_data"].length
        if not (unused and zone["optional_data_check"] == _FILLER):
            personal = zone["optional_data"]
            _verify(zone, "optional_data", personal, "optional_data_check", hints=True)
    if zone.layout.composite:
        covered = "".join(zone.lines[line][a:b] for line, a, b in zone.layout.composite)
        _verify(zone, "composite", covered, "composite_check")
    return number, optional


def _date(zone: _Zone, name: str, latest: date) -> date:
    """The date of YYMMDD field `name` in the latest century that is not after `latest`."""
    text = zone[name]
    yy, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    year = latest.year - (latest.year - yy) % 100
    for candidate in (year, year - 100):
        try:
            value = date(candidate, month, day)
        except ValueError:
            continue
        if value <= latest:
            return value
    line, column = zone.position(name)
    raise MrzFormatError(
        f"{name} is not a calendar date (YYMMDD)", value=text, line=line, column=column, field=name
    )


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _names(field: str) -> tuple[str, str, bool]:
    """(surname, given names, truncated): `<<` separates surname from given names,
    a single `<` is a space. Doc 9303 part 3 marks nothing else on truncation: a
    name field filled to its last character is the only sign that names were cut."""
    truncated = not field.endswith(_FILLER)
    surname, _, given = field.rstrip(_FILLER).partition(_FILLER * 2)
    return surname.replace(_FILLER, " "), given.replace(_FILLER, " "), truncated


_SEX = {"M": Sex.MALE, "F": Sex.FEMALE, "X": Sex.UNSPECIFIED, "<": Sex.UNSPECIFIED}


def parse_mrz(text: str, *, today: date | None = None) -> TravelDocument:
    """Parse and validate a machine-readable zone into a TravelDocument.

    `text`: the zone's lines separated by newlines (surrounding white space and empty
    lines are ignored). `today` (default: the system date) resolves two-digit years:
    a birth date is never after `today`; an expiry date is at most
    `EXPIRY_HORIZON_YEARS` after it. Raises `MrzFormatError` (shape, character,
    calendar date) or `MrzCheckDigitError` (which field, expected and found digit).
    """
    today = today or date.today()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    zone = _Zone(lines, _layout_for(lines))
    _check_characters(zone)
    number, optional = _check_digits(zone)
    surname, given_names, truncated = _names(zone["names"])
    optional_2 = zone["optional_data_2"] if "optional_data_2" in zone.layout.fields else ""
    return TravelDocument(
        format=zone.layout.format,
        code=zone["code"].rstrip(_FILLER),
        issuer=zone["issuer"],
        number=number,
        surname=surname,
        given_names=given_names,
        nationality=zone["nationality"],
        birth_date=_date(zone, "birth_date", today),
        sex=_SEX[zone["sex"]],
        expiry_date=_date(zone, "expiry_date", _add_years(today, EXPIRY_HORIZON_YEARS)),
        optional_data=optional,
        optional_data_2=optional_2.rstrip(_FILLER),
        names_truncated=truncated,
    )


_SEX_LETTER = {Sex.MALE: "M", Sex.FEMALE: "F", Sex.UNSPECIFIED: _FILLER}


class _Writer:
    """Fills a zone of fillers field by field, refusing what does not fit."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.lines = [[_FILLER] * layout.width for _ in range(layout.lines)]

    def put(self, name: str, value: str, *, offset: int = 0) -> None:
        f = self.layout.fields[name]
        if len(value) + offset > f.length:
            raise MrzEncodeError(name, value, f"longer than the {f.length} characters of the field")
        bad = [c for c in value if not f.allows(c)]
        if bad:
            raise MrzEncodeError(name, value, f"{bad[0]!r} is not allowed ({f.chars.value})")
        start = f.start + offset
        self.lines[f.line][start : start + len(value)] = list(value)

    def text(self, name: str) -> str:
        f = self.layout.fields[name]
        return "".join(self.lines[f.line][f.start : f.start + f.length])

    def zone(self) -> str:
        return "\n".join("".join(line) for line in self.lines)


def _name_field(doc: TravelDocument, width: int) -> str:
    """Surname `<<` given names, spaces and hyphens as `<`, apostrophes dropped
    (Doc 9303 part 3, 6.B); cut at the field width when too long."""
    parts = [doc.surname, doc.given_names] if doc.given_names else [doc.surname]
    field = "<<".join(p.replace("'", "").replace("-", " ").replace(" ", _FILLER) for p in parts)
    if not field[:1].isalpha():
        raise MrzEncodeError("surname", doc.surname, "the name field must start with a letter")
    return field[:width]


def _write_number(w: _Writer, doc: TravelDocument) -> str:
    """Write the document number; returns the optional data text that follows it."""
    number = doc.number
    if number.endswith(_FILLER):
        raise MrzEncodeError("document_number", number, "must not end with '<'")
    if len(number) <= 9:
        w.put("document_number", number)
        w.put("document_number_check", str(check_digit(w.text("document_number"))))
        return doc.optional_data
    if not w.layout.number_overflow or _FILLER in number[:9]:
        raise MrzEncodeError("document_number", number, "longer than 9 characters")
    w.put("document_number", number[:9])
    w.put("document_number_check", _FILLER)
    return f"{number[9:]}{check_digit(number)}{_FILLER}{doc.optional_data}"


def _yymmdd(d: date) -> str:
    return f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"


def format_mrz(doc: TravelDocument) -> str:
    """Write `doc` as the machine-readable zone of its format: lines joined by
    newlines, no trailing newline. `parse_mrz(format_mrz(doc))` gives `doc` back
    (with `names_truncated` set when the names fill their field) as long as the
    dates lie in `parse_mrz`'s century windows. Raises `MrzEncodeError`."""
    layout = LAYOUTS[doc.format]
    visa = doc.format in (DocumentType.MRV_A, DocumentType.MRV_B)
    if not doc.code[:1].isalpha():
        raise MrzEncodeError("code", doc.code, "must start with a letter")
    if (doc.code[:1] == "V") != visa:
        raise MrzEncodeError("code", doc.code, f"{doc.format.value}: only visa codes start with V")
    w = _Writer(layout)
    w.put("code", doc.code)
    w.put("issuer", doc.issuer)
    w.put("names", _name_field(doc, layout.fields["names"].length))
    w.put("optional_data", _write_number(w, doc))
    w.put("nationality", doc.nationality)
    w.put("birth_date", _yymmdd(doc.birth_date))
    w.put("birth_date_check", str(check_digit(w.text("birth_date"))))
    w.put("sex", _SEX_LETTER[doc.sex])
    w.put("expiry_date", _yymmdd(doc.expiry_date))
    w.put("expiry_date_check", str(check_digit(w.text("expiry_date"))))
    if "optional_data_check" in layout.fields:
        optional = w.text("optional_data")
        unused = optional == _FILLER * len(optional)
        w.put("optional_data_check", _FILLER if unused else str(check_digit(optional)))
    if "optional_data_2" in layout.fields:
        w.put("optional_data_2", doc.optional_data_2)
    elif doc.optional_data_2:
        raise MrzEncodeError("optional_data_2", doc.optional_data_2, "only TD1 has a second one")
    if layout.composite:
        lines = ["".join(line) for line in w.lines]
        covered = "".join(lines[line][a:b] for line, a, b in layout.composite)
        w.put("composite_check", str(check_digit(covered)))
    return w.zone()
