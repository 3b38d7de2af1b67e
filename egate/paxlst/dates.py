"""DTM values of PAXLST: formats 101/102 (dates) and 201/203 (date and time),
two-digit years resolved against the interchange's preparation date."""

from __future__ import annotations

from datetime import date, datetime

from egate.edifact import Segment


def resolve_year(two_digits: int, reference: int, *, past: bool) -> int:
    """Four-digit year: birth dates are not after the reference year; other
    dates fall within 50 years either side of it."""
    year = reference // 100 * 100 + two_digits
    if past:
        return year - 100 if year > reference else year
    if year > reference + 49:
        return year - 100
    return year + 100 if year < reference - 50 else year


def read_date(segment: Segment, value: str, fmt: str, prepared: datetime, *, past: bool) -> date:
    """DTM value in format 101 (YYMMDD) or 102 (CCYYMMDD); no format code: by length."""
    formats = {"101": 6, "102": 8, "": len(value)}
    if fmt not in formats or len(value) != formats[fmt] or len(value) not in (6, 8):
        raise segment.error(f"invalid date {value!r} (format {fmt or 'none'})")
    moment = read_datetime(segment, value + "0000", "", prepared, past=past)
    return moment.date()


def read_datetime(
    segment: Segment, value: str, fmt: str, prepared: datetime, *, past: bool = False
) -> datetime:
    """DTM value in format 201 (YYMMDDHHMM) or 203 (CCYYMMDDHHMM); no format code: by length."""
    formats = {"201": 10, "203": 12, "": len(value)}
    if (
        fmt not in formats
        or len(value) != formats[fmt]
        or len(value) not in (10, 12)
        or not (value.isdigit() and value.isascii())
    ):
        raise segment.error(f"invalid date/time {value!r} (format {fmt or 'none'})")
    if len(value) == 10:
        value = str(resolve_year(int(value[:2]), prepared.year, past=past)) + value[2:]
    try:  # int() slices: strptime costs ten times more, per traveller
        return datetime(
            int(value[:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), int(value[10:])
        )
    except ValueError:
        raise segment.error(f"invalid date/time {value!r}") from None
