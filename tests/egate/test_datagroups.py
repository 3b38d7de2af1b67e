"""Chip files as the gate reads them: BER-TLV (egate.tlv), DG1 and DG2 (egate.chip),
written independently by tests/egate/chipbuilder.py or by hand from Doc 9303."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from chipbuilder import (
    NOW,
    dg1,
    dg2,
    facial_record,
    gradient_image,
    tlv,
)
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from egate.chip import (
    ChipFormatError,
    ImageFormat,
    dg1_mrz,
    portrait_from_dg2,
    read_dg1,
    read_dg2,
)
from egate.mrz import MrzError, parse_mrz
from egate.tlv import TlvError, read_all, read_single, read_tlv

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TODAY = NOW.date()
PRINTED = parse_mrz(TD3, today=TODAY)


JPEG = gradient_image()


# --- TLV -------------------------------------------------------------------------------


def test_dg1_written_by_hand_from_doc_9303_reads_back() -> None:
    # 61 5B 5F1F 58 <88 bytes>: the DG1 layout of Doc 9303 part 10 for a TD3 MRZ
    raw = bytes.fromhex("615B5F1F58") + TD3.replace("\n", "").encode()
    assert dg1_mrz(raw) == TD3
    assert read_dg1(raw, today=TODAY) == PRINTED
    assert dg1(TD3) == raw


def test_long_form_lengths_and_multi_byte_tags() -> None:
    value = bytes(range(256)) * 2
    encoded = bytes.fromhex("5F2E820200") + value + bytes.fromhex("7F6100")
    first, end = read_tlv(encoded)
    assert (first.tag, first.value, end) == (0x5F2E, value, 517)
    assert [(t.tag, t.offset) for t in read_all(encoded)] == [(0x5F2E, 0), (0x7F61, 517)]
    assert read_all(bytes.fromhex("7F6100"))[0].constructed
    assert not first.constructed


@pytest.mark.parametrize(
    ("data", "match", "offset"),
    [
        (bytes.fromhex("615B5F1F"), r"length 91 exceeds the 2 bytes left", 0),
        (bytes.fromhex("6180"), r"indefinite length is not allowed", 1),
        (bytes.fromhex("6185FFFFFFFFFF"), r"bad long-form length \(5 bytes\)", 1),
        (bytes.fromhex("5F"), r"tag runs past the end", 0),
        (bytes.fromhex("5FFFFFFF01"), r"tag longer than 3 bytes", 0),
        (bytes.fromhex("61"), r"missing length", 1),
        (bytes.fromhex("6200"), r"expected tag 61, found 62", 0),
        (bytes.fromhex("61000000"), r"2 bytes after tag 61", 2),
    ],
)
def test_malformed_tlv_is_a_typed_error_with_offset(data: bytes, match: str, offset: int) -> None:
    with pytest.raises(TlvError, match=match) as info:
        read_single(data, 0x61)
    assert info.value.offset == offset
    assert info.value.code == "chip_tlv_malformed"


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0x02, 0x61, 0x5F1F, 0x7F61, 0x5F2E, 0xA1]), st.binary(max_size=300)
        ),
        max_size=5,
    )
)
def test_tlv_written_by_the_builder_reads_back(objects: list[tuple[int, bytes]]) -> None:
    data = b"".join(tlv(tag, value) for tag, value in objects)
    assert [(t.tag, t.value) for t in read_all(data)] == objects


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_readers(data: bytes) -> None:
    with contextlib.suppress(ChipFormatError, MrzError):
        read_dg1(data, today=TODAY)
    with contextlib.suppress(ChipFormatError):
        read_dg2(data)


_DG2 = dg2([facial_record(JPEG, 96, 128, points=2)])


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_damaged_dg2_is_read_or_refused_never_crashes(position: int, xor: int) -> None:
    damaged = bytearray(_DG2)
    damaged[position % len(damaged)] ^= xor
    with contextlib.suppress(ChipFormatError):
        for portrait in read_dg2(bytes(damaged)):
            assert portrait.image.startswith(b"\xff\xd8\xff")


# --- DG1 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (tlv(0x61, tlv(0x5F1F, b"P<UTO")), r"DG1: MRZ of 5 bytes \(expected 90, 72 or 88\)"),
        (tlv(0x61, tlv(0x5F1F, "É".encode("latin-1") * 88)), r"DG1: MRZ is not ASCII"),
        (tlv(0x61, tlv(0x5F1E, b"")), r"DG1: no tag 5F1F inside tag 61"),
        (tlv(0x75, b""), r"DG1: expected tag 61, found 75"),
    ],
)
def test_malformed_dg1_names_the_problem(data: bytes, match: str) -> None:
    with pytest.raises(ChipFormatError, match=match) as info:
        read_dg1(data, today=TODAY)
    assert (info.value.data_group, info.value.code) == (1, "chip_data_malformed")


def test_dg1_of_td1_and_td2_splits_lines_by_length() -> None:
    td1 = "\n".join(
        [
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA" + "<" * 10,
        ]
    )
    td2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"
    assert dg1_mrz(dg1(td1)) == td1
    assert dg1_mrz(dg1(td2)) == td2


# --- DG2 -------------------------------------------------------------------------------


def test_portrait_is_extracted_byte_for_byte_and_decodes() -> None:
    group = dg2([facial_record(JPEG, 96, 128)])
    assert portrait_from_dg2(group) == JPEG
    (portrait,) = read_dg2(group)
    assert (portrait.format, portrait.width, portrait.height) == (ImageFormat.JPEG, 96, 128)
    with Image.open(io.BytesIO(portrait.image)) as decoded:
        assert decoded.size == (96, 128)


def test_feature_points_and_several_templates() -> None:
    jp2 = gradient_image("JPEG2000", (40, 50))
    group = dg2([facial_record(JPEG, 96, 128, points=3), facial_record(jp2, 40, 50, data_type=1)])
    portraits = read_dg2(group)
    assert [(p.format, p.width, p.image) for p in portraits] == [
        (ImageFormat.JPEG, 96, JPEG),
        (ImageFormat.JPEG2000, 40, jp2),
    ]


def test_real_face_photograph_round_trips_through_dg2(people: list[Any]) -> None:
    path = next(p.path for p in people if p.path.suffix == ".jpg")
    photo = path.read_bytes()
    with Image.open(path) as image:
        width, height = image.size
    assert portrait_from_dg2(dg2([facial_record(photo, width, height)])) == photo


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda g: g[:-10], r"DG2: length \d+ exceeds"),
        (
            lambda g: _replace(g, b"FAC\x00", b"FAD\x00"),
            r"not an ISO/IEC 19794-5:2005 facial record",
        ),
        (
            lambda g: _replace(g, b"010\x00", b"030\x00"),
            r"not an ISO/IEC 19794-5:2005 facial record",
        ),
        (
            lambda g: _replace(g, b"\x01\x00\x00\x60\x00\x80", b"\x01\x01\x00\x60\x00\x80"),
            r"image data type 1",
        ),
        (
            lambda g: g.replace(bytes.fromhex("020101"), bytes.fromhex("020102"), 1),
            r"template count 2, 1",
        ),
        (
            lambda g: _replace(g, bytes.fromhex("5F2E"), bytes.fromhex("5F2F")),
            r"no 5F2E biometric data block",
        ),
        (lambda g: tlv(0x75, tlv(0x7F62, b"")), r"no tag 7F61 inside tag 75"),
    ],
)
def test_malformed_dg2_is_a_typed_error(mutate: Callable[[bytes], bytes], match: str) -> None:
    with pytest.raises(ChipFormatError, match=match) as info:
        read_dg2(mutate(dg2([facial_record(JPEG, 96, 128)])))
    assert info.value.data_group == 2


def test_facial_block_length_beyond_the_record_is_refused() -> None:
    record = bytearray(facial_record(JPEG, 96, 128))
    record[14:18] = (len(record) + 1).to_bytes(4, "big")
    with pytest.raises(ChipFormatError, match="facial image block overruns the record"):
        read_dg2(dg2([bytes(record)]))
