"""BER-TLV as the eMRTD chip stores its data groups (ICAO Doc 9303 part 10, ISO/IEC 7816-4).

Tags are returned as integers of their raw bytes (`0x61`, `0x5F1F`, `0x7F61`);
lengths may use the short form or the long form with up to 4 length bytes.
Indefinite lengths are refused: Doc 9303 data groups are DER.
"""

from __future__ import annotations

from dataclasses import dataclass

from egate import EgateError

_MAX_TAG_BYTES = 3
_MAX_LENGTH_BYTES = 4


class TlvError(EgateError):
    """Bytes that are not well-formed BER-TLV; `offset` is the byte where reading failed."""

    code = "chip_tlv_malformed"

    def __init__(self, reason: str, *, offset: int, value: bytes) -> None:
        self.reason = reason
        self.offset = offset
        self.value = value
        super().__init__(f"malformed TLV at byte {offset}: {reason} ({value[:16].hex()})")


@dataclass(frozen=True, slots=True)
class Tlv:
    """One data object: `tag` as an int of its bytes, `value` its content,
    `offset` where the object starts in the bytes it was read from."""

    tag: int
    value: bytes
    offset: int = 0

    @property
    def constructed(self) -> bool:
        """True when the value is itself a sequence of TLVs (bit 6 of the first tag byte)."""
        first = self.tag.to_bytes(max(1, (self.tag.bit_length() + 7) // 8), "big")[0]
        return bool(first & 0x20)

    def children(self) -> list[Tlv]:
        """The TLVs inside a constructed value (offsets relative to the value)."""
        return read_all(self.value)

    def child(self, tag: int) -> Tlv:
        """The first child with `tag`; TlvError when there is none."""
        for c in self.children():
            if c.tag == tag:
                return c
        raise TlvError(f"no tag {tag:X} inside tag {self.tag:X}", offset=0, value=self.value)


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    start = pos
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:  # multi-byte tag: continuation bytes have bit 8 set
        while True:
            if pos >= len(data):
                raise TlvError("tag runs past the end", offset=start, value=data[start:])
            tag = (tag << 8) | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if pos - start >= _MAX_TAG_BYTES:
                raise TlvError("tag longer than 3 bytes", offset=start, value=data[start:])
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("missing length", offset=pos, value=data[pos:])
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0:
        raise TlvError("indefinite length is not allowed", offset=pos, value=data[pos:])
    if count > _MAX_LENGTH_BYTES or pos + 1 + count > len(data):
        raise TlvError(f"bad long-form length ({count} bytes)", offset=pos, value=data[pos:])
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Read the TLV that starts at `offset`; returns it and the offset just after it."""
    if offset >= len(data):
        raise TlvError("no data", offset=offset, value=b"")
    tag, pos = _read_tag(data, offset)
    length, pos = _read_length(data, pos)
    if pos + length > len(data):
        raise TlvError(
            f"length {length} exceeds the {len(data) - pos} bytes left",
            offset=offset,
            value=data[offset:],
        )
    return Tlv(tag, data[pos : pos + length], offset), pos + length


def read_all(data: bytes) -> list[Tlv]:
    """Every TLV of a concatenation that must fill `data` exactly."""
    found, pos = [], 0
    while pos < len(data):
        tlv, pos = read_tlv(data, pos)
        found.append(tlv)
    return found


def read_single(data: bytes, tag: int) -> Tlv:
    """`data` as exactly one TLV with `tag` (the outer object of a data group)."""
    tlv, end = read_tlv(data)
    if tlv.tag != tag:
        raise TlvError(f"expected tag {tag:X}, found {tlv.tag:X}", offset=0, value=data)
    if end != len(data):
        raise TlvError(f"{len(data) - end} bytes after tag {tag:X}", offset=end, value=data[end:])
    return tlv
