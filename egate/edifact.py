"""UN/EDIFACT syntax (ISO 9735) as PAXLST and CUSRES use it: service string
advice, interchange / functional group / message envelopes and their control
counts. Tokenising is pydifact's; the envelope is checked here because
pydifact's `get_messages()` does not accept UNG/UNE groups (see
shared/notes/border-standards.md, PAXLST section).

Segment positions are 1-based within the interchange and do not count UNA
(UNB is segment 1), so an error names the segment a reader counts from the
interchange header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydifact.control.characters import Characters
from pydifact.exceptions import EDISyntaxError
from pydifact.parser import Parser
from pydifact.segments import Segment as PydifactSegment
from pydifact.serializer import Serializer
from pydifact.token import Token
from pydifact.tokenizer import Tokenizer

from egate import EgateError

_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
_ENVELOPE = frozenset({"UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})

Element = str | Sequence[str]
"""An element to write: a simple value, or the components of a composite."""


class EdifactError(EgateError):
    """The interchange breaks the EDIFACT syntax or its envelope control counts.

    `segment` is the 1-based position of the offending segment in the
    interchange (UNA not counted), `tag` its tag ("" when it could not be read).
    """

    code = "edifact_malformed"

    def __init__(self, segment: int, tag: str, reason: str) -> None:
        self.segment = segment
        self.tag = tag
        self.reason = reason
        super().__init__(f"segment {segment} ({tag or '?'}): {reason}")


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The service characters of the UNA segment (ISO 9735 defaults)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    reserved: str = " "
    terminator: str = "'"

    @property
    def una(self) -> str:
        """The UNA service string advice, e.g. `UNA:+.? '`."""
        return "UNA" + "".join(self._characters())

    def _characters(self) -> tuple[str, ...]:
        return (
            self.component,
            self.element,
            self.decimal,
            self.release,
            self.reserved,
            self.terminator,
        )

    def pydifact(self) -> Characters:
        return Characters.from_str(self.una)

    @classmethod
    def from_una(cls, una: str) -> Delimiters:
        """Read the six characters after `UNA`; raises `EdifactError` when they collide."""
        chars = una[3:9]
        if len(chars) != 6:
            raise EdifactError(0, "UNA", f"service string advice is truncated: {una!r}")
        delimiters = cls(*chars)
        syntax = (chars[0], chars[1], chars[3], chars[5])
        if len(set(syntax)) != 4 or any(c.isalnum() or c in "\r\n" for c in syntax):
            raise EdifactError(0, "UNA", f"unusable service characters {chars!r}")
        return delimiters


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: its tag and its elements, each a tuple of components."""

    tag: str
    elements: tuple[tuple[str, ...], ...]
    position: int = 0

    def value(self, element: int, component: int = 0) -> str:
        """Component `component` of element `element` (0 = first after the tag), "" if absent."""
        if element >= len(self.elements):
            return ""
        components = self.elements[element]
        return components[component] if component < len(components) else ""

    def error(self, reason: str) -> EdifactError:
        return EdifactError(self.position, self.tag, reason)


@dataclass(frozen=True, slots=True)
class MessagePart:
    """UNH S010 status of the transfer: part `number` (1-based), `final` for `F`, else `C`."""

    number: int
    final: bool


@dataclass(frozen=True, slots=True)
class Message:
    """One UNH ... UNT message; `body` excludes UNH and UNT."""

    header: Segment
    reference: str
    type: str
    version: str  # "D:05B": directory version and release
    common_access: str
    part: MessagePart | None
    body: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Interchange:
    """A checked UNB ... UNZ interchange."""

    syntax: str  # "UNOA", "UNOC", ...
    sender: str
    recipient: str
    prepared: datetime
    reference: str
    messages: tuple[Message, ...]
    delimiters: Delimiters = field(default_factory=Delimiters)


def split_segments(text: str) -> tuple[Delimiters, list[Segment]]:
    """Tokenise `text` (UNA optional) into segments; nothing is checked but the syntax."""
    text = text.lstrip("\ufeff \r\n\t")
    delimiters = Delimiters()
    if text.startswith("UNA"):
        delimiters = Delimiters.from_una(text)
        text = text[9:].lstrip(" \r\n\t")
    segments: list[Segment] = []
    last: list[Token.Type] = []

    def tokens() -> Iterator[Token]:
        for token in Tokenizer().get_tokens(text, delimiters.pydifact()):
            last[:] = [token.type]
            yield token

    try:
        for raw in Parser().convert_tokens_to_raw_segments(tokens()):
            segments.append(_segment(raw, len(segments) + 1))
    except EDISyntaxError as e:
        raise EdifactError(len(segments) + 1, "", str(e)) from e
    if last and last[0] != Token.Type.TERMINATOR:
        raise EdifactError(len(segments) + 1, "", "interchange ends inside a segment")
    return delimiters, segments


def _segment(raw: list[str | list[str]], position: int) -> Segment:
    tag = raw[0]
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise EdifactError(position, "", f"invalid segment tag {tag!r}")
    elements = tuple((e,) if isinstance(e, str) else tuple(e) for e in raw[1:])
    return Segment(tag, elements, position)


def parse_interchange(text: str) -> Interchange:
    """Split and check one interchange: UNB first, UNZ last, UNG/UNE groups
    optional, every UNT segment count, UNE and UNZ counts and references."""
    delimiters, segments = split_segments(text)
    if not segments or segments[0].tag != "UNB":
        first = segments[0] if segments else Segment("", (), 1)
        raise first.error("interchange does not start with UNB")
    unb = segments[0]
    for index, what in ((1, "sender"), (2, "recipient"), (4, "control reference")):
        if not unb.value(index):
            raise unb.error(f"UNB without an interchange {what}")
    last = segments[-1]
    if last.tag != "UNZ" or len(segments) < 2:
        raise last.error("interchange does not end with UNZ")
    messages, groups = _messages(segments[1:-1])
    expected = groups if groups else len(messages)
    _check_trailer(last, unb, expected, "interchange")
    return Interchange(
        syntax=unb.value(0, 0),
        sender=unb.value(1),
        recipient=unb.value(2),
        prepared=_prepared(unb),
        reference=unb.value(4),
        messages=tuple(messages),
        delimiters=delimiters,
    )


def _messages(segments: list[Segment]) -> tuple[list[Message], int]:
    """Messages between UNB and UNZ, and the number of UNG groups around them."""
    messages: list[Message] = []
    groups = 0
    group: Segment | None = None
    in_group = 0
    i = 0
    while i < len(segments):
        segment = segments[i]
        if segment.tag == "UNG":
            if group is not None:
                raise segment.error("UNG inside an open functional group")
            if messages and not groups:
                raise segment.error("functional group after ungrouped messages")
            group, in_group, groups = segment, 0, groups + 1
        elif segment.tag == "UNE":
            if group is None:
                raise segment.error("UNE without UNG")
            _check_trailer(segment, group, in_group, "functional group")
            group = None
        elif segment.tag == "UNH":
            if groups and group is None:
                raise segment.error("message outside a functional group")
            end = _find_unt(segments, i)
            messages.append(_message(segments[i : end + 1]))
            in_group += 1
            i = end
        else:
            raise segment.error("segment outside a message")
        i += 1
    if group is not None:
        raise group.error("functional group is not closed by UNE")
    return messages, groups


def _find_unt(segments: list[Segment], start: int) -> int:
    for j in range(start + 1, len(segments)):
        tag = segments[j].tag
        if tag == "UNT":
            return j
        if tag in _ENVELOPE:
            unh = segments[start].position
            raise segments[j].error(f"{tag} inside a message (UNH at segment {unh})")
    raise segments[start].error("message is not closed by UNT")


def _message(segments: list[Segment]) -> Message:
    unh, unt = segments[0], segments[-1]
    if unt.value(0) != str(len(segments)):
        raise unt.error(f"UNT counts {unt.value(0)!r} segments, the message has {len(segments)}")
    if unt.value(1) != unh.value(0) or not unh.value(0):
        raise unt.error(f"UNT reference {unt.value(1)!r} differs from UNH {unh.value(0)!r}")
    return Message(
        header=unh,
        reference=unh.value(0),
        type=unh.value(1, 0),
        version=f"{unh.value(1, 1)}:{unh.value(1, 2)}",
        common_access=unh.value(2),
        part=_part(unh),
        body=tuple(segments[1:-1]),
    )


def _part(unh: Segment) -> MessagePart | None:
    number, status = unh.value(3, 0), unh.value(3, 1)
    if not number and not status:
        return None
    if not number.isdigit() or int(number) < 1 or status not in ("C", "F"):
        raise unh.error(f"invalid message part {number}:{status} (want nn:C or nn:F)")
    return MessagePart(int(number), status == "F")


def _check_trailer(trailer: Segment, header: Segment, count: int, what: str) -> None:
    if trailer.value(0) != str(count):
        raise trailer.error(f"{trailer.tag} counts {trailer.value(0)!r}, the {what} has {count}")
    reference = header.value(4)
    if trailer.value(1) != reference:
        raise trailer.error(
            f"{trailer.tag} reference {trailer.value(1)!r} differs from {header.tag} {reference!r}"
        )


def _prepared(unb: Segment) -> datetime:
    stamp = unb.value(3, 0) + unb.value(3, 1)
    try:
        if len(stamp) == 10 and stamp.isdigit() and stamp.isascii():
            # Versions 1-3 write YYMMDD; an interchange is prepared in this century.
            return datetime.strptime("20" + stamp, "%Y%m%d%H%M")
        if len(stamp) == 12 and stamp.isdigit() and stamp.isascii():
            return datetime.strptime(stamp, "%Y%m%d%H%M")
    except ValueError:
        pass
    raise unb.error(f"invalid preparation date/time {stamp!r} (want CCYYMMDD:HHMM or YYMMDD:HHMM)")


def serialize(
    segments: Sequence[tuple[str, Sequence[Element]]],
    delimiters: Delimiters = Delimiters(),
    *,
    una: bool = True,
    line_breaks: bool = False,
) -> str:
    """Write segments `(tag, elements)`, escaping service characters with the release character."""
    pydifact_segments = [
        PydifactSegment(tag, *(e if isinstance(e, str) else list(e) for e in elements))
        for tag, elements in segments
    ]
    serializer = Serializer(delimiters.pydifact())
    return serializer.serialize(pydifact_segments, with_una_header=una, break_lines=line_breaks)


def envelope(
    messages: Sequence[Sequence[tuple[str, Sequence[Element]]]],
    *,
    message_type: str,
    version: str,
    syntax: str,
    sender: str,
    recipient: str,
    prepared: datetime,
    reference: str,
    group: bool = True,
) -> list[tuple[str, Sequence[Element]]]:
    """Wrap message bodies (each starting with its UNH, UNT added here) in
    UNB[/UNG ... UNE]/UNZ with correct control counts."""
    # Syntax version 4 dates the interchange with a four-digit year (CCYYMMDD).
    stamp = [f"{prepared.year:04d}{prepared:%m%d}", prepared.strftime("%H%M")]
    out: list[tuple[str, Sequence[Element]]] = [
        ("UNB", [[syntax, "4"], sender, recipient, stamp, reference])
    ]
    if group:
        directory = version.split(":")
        out.append(("UNG", [message_type, sender, recipient, stamp, reference, "UN", directory]))
    for body in messages:
        out.extend(body)
        out.append(("UNT", [str(len(body) + 1), str(body[0][1][0])]))
    if group:
        out.append(("UNE", [str(len(messages)), reference]))
    out.append(("UNZ", ["1" if group else str(len(messages)), reference]))
    return out
