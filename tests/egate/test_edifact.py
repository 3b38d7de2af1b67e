from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from egate.edifact import (
    Delimiters,
    EdifactError,
    Segment,
    envelope,
    parse_interchange,
    serialize,
    split_segments,
)

# Values may hold every service character; the writer releases them.
VALUE = st.text(alphabet="AZ09 .-'+:?*~^!", min_size=1, max_size=8)
ELEMENT = st.lists(VALUE, min_size=1, max_size=3)
SEGMENTS = st.lists(
    st.tuples(
        st.from_regex(r"[A-Z]{3}", fullmatch=True), st.lists(ELEMENT, min_size=1, max_size=4)
    ),
    min_size=1,
    max_size=6,
)
DELIMITERS = st.sampled_from([Delimiters(), Delimiters("^", "*", ".", "!", " ", "~")])


@given(segments=SEGMENTS, delimiters=DELIMITERS, una=st.booleans(), breaks=st.booleans())
def test_serialize_then_split_round_trips(
    segments: list[tuple[str, list[list[str]]]], delimiters: Delimiters, una: bool, breaks: bool
) -> None:
    if not una and delimiters != Delimiters():
        return  # other service characters must be announced by UNA
    text = serialize(segments, delimiters, una=una, line_breaks=breaks)
    read, split = split_segments(text)
    assert read == delimiters
    assert [(s.tag, [list(e) for e in s.elements]) for s in split] == segments
    assert [s.position for s in split] == list(range(1, len(segments) + 1))


def test_segment_values_default_to_empty() -> None:
    segment = Segment("DOC", (("P", "110", "111"), ("X1",)), 7)
    assert (segment.value(0), segment.value(0, 2), segment.value(1), segment.value(5, 1)) == (
        "P",
        "111",
        "X1",
        "",
    )
    assert str(segment.error("bad")) == "segment 7 (DOC): bad"


def _interchange(group: bool, count: int = 2) -> str:
    bodies: list[list[tuple[str, list[str | list[str]]]]] = [
        [("UNH", [str(i), ["PAXLST", "D", "05B", "UN", "IATA"]]), ("BGM", ["745"])]
        for i in range(count)
    ]
    segments = envelope(
        bodies,
        message_type="PAXLST",
        version="D:05B",
        syntax="UNOA",
        sender="S",
        recipient="R",
        prepared=datetime(2026, 11, 21, 6, 10),
        reference="X",
        group=group,
    )
    return serialize(segments)


@pytest.mark.parametrize("group", [True, False])
def test_envelope_counts_are_consistent(group: bool) -> None:
    interchange = parse_interchange(_interchange(group))
    assert [m.reference for m in interchange.messages] == ["0", "1"]
    assert (interchange.sender, interchange.recipient, interchange.reference) == ("S", "R", "X")
    assert interchange.prepared == datetime(2026, 11, 21, 6, 10)


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("UNZ+1+X", "UNZ+2+X", r"segment 10 \(UNZ\): UNZ counts '2', the interchange has 1"),
        ("UNE+2+X'", "", r"segment 2 \(UNG\): functional group is not closed by UNE"),
        ("UNB+UNOA:4+S+", "UNB+UNOA:4++", r"segment 1 \(UNB\): UNB without an interchange sender"),
        ("UNT+3+1'", "UNT+3+1'BGM+745'", r"segment 9 \(BGM\): segment outside a message"),
        (
            "UNH+1+",
            "UNG+PAXLST'UNH+1+",
            r"segment 6 \(UNG\): UNG inside an open functional group",
        ),
        (
            "745'UNT+3+0",
            "745'UNG'UNT+3+0",
            r"segment 5 \(UNG\): UNG inside a message \(UNH at segment 3\)",
        ),
        ("UNT+3+0", "UNT+3+", r"segment 5 \(UNT\): UNT reference '' differs from UNH '0'"),
        ("'UNH+0", "'UNH+0+PAXLST:D:05B:UN:IATA++2X:C'UNT+2+0'UNH+0", r"invalid message part 2X:C"),
    ],
)
def test_envelope_errors(old: str, new: str, error: str) -> None:
    text = _interchange(True)
    assert old in text
    with pytest.raises(EdifactError, match=error) as info:
        parse_interchange(text.replace(old, new, 1))
    assert info.value.code == "edifact_malformed"


def test_ungrouped_messages_then_a_group_is_refused() -> None:
    text = _interchange(False).replace(
        "UNZ+2+X'", "UNG+PAXLST+S+R+20261121:0610+G+UN+D:05B'UNE+0+G'UNZ+3+X'"
    )
    with pytest.raises(EdifactError, match=r"segment 8 \(UNG\): functional group after ungrouped"):
        parse_interchange(text)
