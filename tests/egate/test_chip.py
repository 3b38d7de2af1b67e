"""Chip data groups and passive authentication (egate.tlv, egate.sod, egate.csca,
egate.chip) on chips built in tests/egate/chipbuilder.py with a test CSCA."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from chipbuilder import (
    NOW,
    Scheme,
    Signer,
    build_chip,
    build_sod,
    dg1,
    dg2,
    facial_record,
    make_csca,
    make_ds,
    tlv,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from egate.chip import (
    CheckStatus,
    ChipCheck,
    ChipData,
    ChipFailure,
    ChipFormatError,
    ChipVerification,
    ImageFormat,
    dg1_mrz,
    portrait_from_dg2,
    read_dg1,
    read_dg2,
    verify_chip,
)
from egate.csca import CscaStore, CscaStoreError
from egate.documents import TravelDocument
from egate.mrz import MrzError, format_mrz, parse_mrz
from egate.sod import LdsSecurityObject, SodError, parse_sod
from egate.tlv import TlvError, read_all, read_single, read_tlv

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TODAY = NOW.date()
PRINTED = parse_mrz(TD3, today=TODAY)


def _image(fmt: str, size: tuple[int, int] = (96, 128)) -> bytes:
    """A real encoded image: a colour gradient."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


JPEG = _image("JPEG")


@pytest.fixture(scope="module")
def csca() -> Signer:
    return make_csca(Scheme.RSA_PKCS1V15)


@pytest.fixture(scope="module")
def ds(csca: Signer) -> Signer:
    return make_ds(csca)


@pytest.fixture(scope="module")
def store(csca: Signer) -> CscaStore:
    return CscaStore([csca.cert])


@pytest.fixture(scope="module")
def chip(ds: Signer) -> ChipData:
    return build_chip(TD3, JPEG, 96, 128, ds)


def _verify(
    chip: ChipData, store: CscaStore, printed: TravelDocument | None = PRINTED
) -> ChipVerification:
    return verify_chip(chip, printed, store, at=NOW)


def _status(result: ChipVerification) -> dict[ChipCheck, tuple[CheckStatus, ChipFailure | None]]:
    return {c.check: (c.status, c.failure) for c in result.checks}


PASSED = (CheckStatus.PASSED, None)


def _only_failure(
    result: ChipVerification,
    check: ChipCheck,
    failure: ChipFailure,
    skipped: tuple[ChipCheck, ...] = (),
) -> None:
    """`check` failed with `failure`, the `skipped` checks were skipped, every other passed."""
    expected = {c: PASSED for c in ChipCheck} | {check: (CheckStatus.FAILED, failure)}
    expected |= {c: (CheckStatus.SKIPPED, None) for c in skipped}
    assert _status(result) == expected
    assert result.failures == (failure,)
    assert not result.ok


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
    jp2 = _image("JPEG2000", (40, 50))
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


# --- passive authentication ------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(Scheme))
def test_genuine_chip_passes_with_every_signature_scheme(scheme: Scheme) -> None:
    csca = make_csca(scheme)
    chip = build_chip(TD3, JPEG, 96, 128, make_ds(csca))
    result = verify_chip(chip, PRINTED, CscaStore([csca.cert]), at=NOW)
    assert _status(result) == {c: PASSED for c in ChipCheck}
    assert result.ok
    assert result.passive_authentication_ok
    assert result.document == PRINTED
    assert (
        result.result(ChipCheck.SOD_SIGNATURE).detail
        == parse_sod(chip.sod).signature_algorithm.scheme.value
    )


@pytest.mark.parametrize(
    ("hash_algorithm", "lds_version"), [("sha1", None), ("sha384", "0107"), ("sha512", "0108")]
)
def test_lds_hash_algorithms_and_versions(
    ds: Signer, store: CscaStore, hash_algorithm: str, lds_version: str | None
) -> None:
    chip = build_chip(
        TD3, JPEG, 96, 128, ds, hash_algorithm=hash_algorithm, lds_version=lds_version
    )
    sod = parse_sod(chip.sod)
    assert (sod.hash_algorithm, sod.lds_version) == (hash_algorithm, lds_version)
    assert sod.data_group_hashes[2] == hashlib.new(hash_algorithm, chip.dg2).digest()
    assert _verify(chip, store).ok


def test_without_printed_mrz_the_comparison_is_skipped(chip: ChipData, store: CscaStore) -> None:
    result = _verify(chip, store, printed=None)
    assert result.result(ChipCheck.DG1_MRZ).status is CheckStatus.SKIPPED
    assert result.ok
    assert result.document == PRINTED


def test_tampered_portrait_fails_its_hash(chip: ChipData, store: CscaStore) -> None:
    dg2 = bytearray(chip.dg2)
    dg2[-20] ^= 0x01  # inside the JPEG
    result = _verify(dataclasses.replace(chip, dg2=bytes(dg2)), store)
    _only_failure(result, ChipCheck.DATA_GROUP_HASHES, ChipFailure.DG_HASH_MISMATCH)
    assert result.result(ChipCheck.DATA_GROUP_HASHES).detail == "hash differs for DG2"


def test_swapped_dg1_fails_its_hash_and_the_printed_mrz(chip: ChipData, store: CscaStore) -> None:
    other = format_mrz(dataclasses.replace(PRINTED, surname="MALLORY", given_names=""))
    result = _verify(dataclasses.replace(chip, dg1=dg1(other)), store)
    assert result.failures == (ChipFailure.DG_HASH_MISMATCH, ChipFailure.DG1_MRZ_MISMATCH)
    assert result.result(ChipCheck.DG1_MRZ).detail == (
        "DG1 differs from the printed MRZ in surname, given_names"
    )


def test_printed_mrz_of_another_document_is_a_mismatch(chip: ChipData, store: CscaStore) -> None:
    printed = dataclasses.replace(PRINTED, number="L898902C4")
    result = _verify(chip, store, printed)
    _only_failure(result, ChipCheck.DG1_MRZ, ChipFailure.DG1_MRZ_MISMATCH)
    assert result.passive_authentication_ok
    assert "in number" in result.result(ChipCheck.DG1_MRZ).detail


def test_forged_hashes_without_new_signature_fail_the_message_digest(
    chip: ChipData, ds: Signer, store: CscaStore
) -> None:
    """The attacker rewrites the LDSSecurityObject for a new portrait but keeps the
    signed attributes (and so the signature) of the genuine SOD."""
    genuine = parse_sod(chip.sod)
    forged_dg2 = dg2([facial_record(_image("JPEG", (64, 64)), 64, 64)])
    sod = build_sod({1: chip.dg1, 2: forged_dg2}, ds, message_digest=genuine.message_digest)
    result = _verify(ChipData(chip.dg1, forged_dg2, sod), store)
    _only_failure(result, ChipCheck.SIGNED_ATTRIBUTES, ChipFailure.MESSAGE_DIGEST_MISMATCH)


def test_corrupted_signature_is_invalid(chip: ChipData, ds: Signer, store: CscaStore) -> None:
    def flip(signature: bytes) -> bytes:
        return signature[:-1] + bytes([signature[-1] ^ 0xFF])

    sod = build_sod({1: chip.dg1, 2: chip.dg2}, ds, tamper_signature=flip)
    _only_failure(
        _verify(dataclasses.replace(chip, sod=sod), store),
        ChipCheck.SOD_SIGNATURE,
        ChipFailure.SIGNATURE_INVALID,
    )


def test_wrong_content_type_attribute(chip: ChipData, ds: Signer, store: CscaStore) -> None:
    sod = build_sod({1: chip.dg1, 2: chip.dg2}, ds, content_type="1.2.840.113549.1.7.1")
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    _only_failure(result, ChipCheck.SIGNED_ATTRIBUTES, ChipFailure.CONTENT_TYPE_MISMATCH)


def test_chip_signed_by_an_untrusted_csca(chip: ChipData) -> None:
    rogue = make_csca(Scheme.ECDSA, name="CSCA Rogue")
    forged = build_chip(TD3, JPEG, 96, 128, make_ds(rogue))
    result = _verify(forged, CscaStore([make_csca(Scheme.ECDSA).cert]))
    _only_failure(
        result,
        ChipCheck.CERTIFICATE_CHAIN,
        ChipFailure.UNKNOWN_CSCA,
        (ChipCheck.CERTIFICATE_VALIDITY,),
    )


def test_ds_certificate_with_a_broken_csca_signature(
    chip: ChipData, ds: Signer, store: CscaStore
) -> None:
    der = bytearray(ds.cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # last byte of the CSCA's signature over the DS certificate
    broken = x509.load_der_x509_certificate(bytes(der))
    sod = build_sod({1: chip.dg1, 2: chip.dg2}, ds, certificates=[broken])
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    _only_failure(
        result,
        ChipCheck.CERTIFICATE_CHAIN,
        ChipFailure.CERT_CHAIN_INVALID,
        (ChipCheck.CERTIFICATE_VALIDITY,),
    )


def test_a_csca_of_the_same_name_but_another_key_does_not_vouch() -> None:
    genuine = make_csca(Scheme.ECDSA)
    impostor = make_csca(Scheme.ECDSA)  # same subject name, different key
    forged = build_chip(TD3, JPEG, 96, 128, make_ds(impostor))
    result = _verify(forged, CscaStore([genuine.cert]))
    assert result.result(ChipCheck.CERTIFICATE_CHAIN).failure in (
        ChipFailure.UNKNOWN_CSCA,  # ruled out by the key identifier
        ChipFailure.CERT_CHAIN_INVALID,
    )
    assert not result.ok


def test_sod_without_the_signer_certificate(chip: ChipData, ds: Signer, store: CscaStore) -> None:
    sod = build_sod({1: chip.dg1, 2: chip.dg2}, ds, certificates=[])
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    status = _status(result)
    assert status[ChipCheck.SOD_SIGNATURE] == (CheckStatus.FAILED, ChipFailure.DS_CERT_MISSING)
    assert status[ChipCheck.CERTIFICATE_CHAIN][0] is CheckStatus.SKIPPED
    assert result.failures == (ChipFailure.DS_CERT_MISSING,)
    assert not result.ok


@pytest.mark.parametrize(
    ("ds_days", "csca_days", "failure"),
    [
        ((-400, -1), (-3650, 3650), ChipFailure.CERT_EXPIRED),
        ((1, 400), (-3650, 3650), ChipFailure.CERT_NOT_YET_VALID),
        ((-90, 400), (-3650, -1), ChipFailure.CSCA_EXPIRED),
    ],
)
def test_certificate_validity_at_the_time_of_the_check(
    ds_days: tuple[int, int], csca_days: tuple[int, int], failure: ChipFailure
) -> None:
    days = timedelta(days=1)
    csca = make_csca(
        Scheme.ECDSA, not_before=NOW + csca_days[0] * days, not_after=NOW + csca_days[1] * days
    )
    ds = make_ds(csca, not_before=NOW + ds_days[0] * days, not_after=NOW + ds_days[1] * days)
    result = _verify(build_chip(TD3, JPEG, 96, 128, ds), CscaStore([csca.cert]))
    _only_failure(result, ChipCheck.CERTIFICATE_VALIDITY, failure)


def test_sod_missing_a_data_group_hash(chip: ChipData, ds: Signer, store: CscaStore) -> None:
    sod = build_sod({1: chip.dg1}, ds)
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    _only_failure(result, ChipCheck.DATA_GROUP_HASHES, ChipFailure.DG_HASH_MISSING)
    assert result.result(ChipCheck.DATA_GROUP_HASHES).detail == "SOD has no hash of DG2"


def test_other_data_groups_read_must_be_hashed_too(
    chip: ChipData, ds: Signer, store: CscaStore
) -> None:
    dg14 = tlv(0x6E, b"\x31\x00")
    sod = build_sod({1: chip.dg1, 2: chip.dg2, 14: dg14}, ds)
    with14 = ChipData(chip.dg1, chip.dg2, sod, other_groups=((14, dg14),))
    assert _verify(with14, store).ok
    result = _verify(dataclasses.replace(chip, other_groups=((14, dg14),)), store)
    _only_failure(result, ChipCheck.DATA_GROUP_HASHES, ChipFailure.DG_HASH_MISSING)


def test_unsupported_lds_hash(ds: Signer, store: CscaStore) -> None:
    chip = build_chip(TD3, JPEG, 96, 128, ds, hash_algorithm="md5")
    _only_failure(
        _verify(chip, store), ChipCheck.DATA_GROUP_HASHES, ChipFailure.UNSUPPORTED_ALGORITHM
    )


def test_dg1_with_a_bad_check_digit_is_malformed(ds: Signer, store: CscaStore) -> None:
    bad = TD3.replace("7408122F", "7408123F")
    result = _verify(build_chip(bad, JPEG, 96, 128, ds), store)
    _only_failure(result, ChipCheck.DG1_MRZ, ChipFailure.DG1_MALFORMED)
    assert result.document is None
    assert "check digit for birth_date" in result.result(ChipCheck.DG1_MRZ).detail


@pytest.mark.parametrize(
    ("sod", "match"),
    [
        (b"", "not a tag-77 object: no data"),
        (tlv(0x77, b"\x30\x03\x02\x01\x00"), "CMS structure"),
        (tlv(0x66, b""), "expected tag 77, found 66"),
    ],
)
def test_unreadable_sod_fails_the_structure_and_skips_the_rest(
    chip: ChipData, store: CscaStore, sod: bytes, match: str
) -> None:
    with pytest.raises(SodError, match=match):
        parse_sod(sod)
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    status = _status(result)
    assert status[ChipCheck.SOD_STRUCTURE] == (CheckStatus.FAILED, ChipFailure.SOD_MALFORMED)
    skipped = [c for c, (s, _) in status.items() if s is CheckStatus.SKIPPED]
    assert skipped == [
        ChipCheck.DATA_GROUP_HASHES,
        ChipCheck.SIGNED_ATTRIBUTES,
        ChipCheck.SOD_SIGNATURE,
        ChipCheck.CERTIFICATE_CHAIN,
        ChipCheck.CERTIFICATE_VALIDITY,
    ]
    assert status[ChipCheck.DG1_MRZ] == PASSED
    assert not result.ok


def _relied_on(sod: bytes) -> tuple[object, ...]:
    """Everything passive authentication relies on, decoded from a SOD."""
    parsed = parse_sod(sod)
    cert = parsed.signer_certificate
    return (
        dict(parsed.data_group_hashes),
        parsed.hash_algorithm,
        parsed.content,
        parsed.signed_attributes,
        parsed.signature,
        parsed.signature_algorithm,
        parsed.digest_algorithm,
        None if cert is None else cert.public_bytes(serialization.Encoding.DER),
    )


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_changed_sod_byte_is_rejected_unless_it_changes_nothing_relied_on(
    position: int, xor: int
) -> None:
    """CMS leaves some fields unsigned (SignedData version, its digestAlgorithms set,
    ...): a change there may pass, but then the decoded content that the checks rely
    on must be exactly the genuine one. Every other change fails a check."""
    sod = bytearray(_GENUINE.sod)
    sod[position % len(sod)] ^= xor
    result = verify_chip(
        dataclasses.replace(_GENUINE, sod=bytes(sod)), PRINTED, _GENUINE_STORE, at=NOW
    )
    if result.ok:
        assert _relied_on(bytes(sod)) == _relied_on(_GENUINE.sod)


_GENUINE_CSCA = make_csca(Scheme.ECDSA)
_GENUINE = build_chip(TD3, JPEG, 96, 128, make_ds(_GENUINE_CSCA))
_GENUINE_STORE = CscaStore([_GENUINE_CSCA.cert])


def test_naive_time_is_refused(chip: ChipData, store: CscaStore) -> None:
    with pytest.raises(ValueError, match="needs an aware datetime"):
        verify_chip(chip, PRINTED, store, at=NOW.replace(tzinfo=None))


def test_an_empty_store_trusts_nobody(chip: ChipData) -> None:
    result = _verify(chip, CscaStore())
    assert result.result(ChipCheck.CERTIFICATE_CHAIN).failure is ChipFailure.UNKNOWN_CSCA
    assert not result.ok


def _rebuild(sod: bytes, change: Callable[[Any], None]) -> bytes:
    """The SOD with `change` applied to its asn1crypto ContentInfo (re-encoded)."""
    info = cms.ContentInfo.load(read_single(sod, 0x77).value)
    change(info)
    return tlv(0x77, info.dump(force=True))


def _signer(info: Any) -> Any:
    return info["content"]["signer_infos"][0]


def _set_lds(info: Any, change: Callable[[Any], None]) -> None:
    encap = info["content"]["encap_content_info"]
    lds = LdsSecurityObject.load(encap["content"].native)
    change(lds)
    encap["content"] = lds.dump(force=True)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda i: i["content"]["encap_content_info"].__setitem__("content_type", "1.2.3.4"),
            "eContentType 1.2.3.4 is not ldsSecurityObject",
        ),
        (
            lambda i: _set_lds(
                i,
                lambda lds: lds["data_group_hash_values"].append(lds["data_group_hash_values"][0]),
            ),
            "a data group is hashed twice",
        ),
        (
            lambda i: i["content"]["signer_infos"].append(_signer(i).copy()),
            "2 SignerInfos, Doc 9303 requires exactly one",
        ),
        (
            lambda i: _signer(i).__setitem__("signed_attrs", None),
            "SignerInfo without signed attributes",
        ),
    ],
)
def test_structural_sod_errors(chip: ChipData, change: Callable[[Any], None], match: str) -> None:
    with pytest.raises(SodError, match=match):
        parse_sod(_rebuild(chip.sod, change))


def test_content_info_that_is_not_signed_data() -> None:
    sod = tlv(0x77, cms.ContentInfo({"content_type": "data", "content": b"x"}).dump())
    with pytest.raises(SodError, match="content type data, expected signed data"):
        parse_sod(sod)


def test_signer_identified_by_subject_key_identifier(
    chip: ChipData, ds: Signer, store: CscaStore
) -> None:
    ski = ds.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    sod = _rebuild(
        chip.sod,
        lambda i: _signer(i).__setitem__(
            "sid", cms.SignerIdentifier({"subject_key_identifier": ski})
        ),
    )
    assert parse_sod(sod).signer_certificate == ds.cert
    assert _verify(dataclasses.replace(chip, sod=sod), store).ok


def test_plain_rsa_encryption_oid_takes_the_digest_algorithm(
    chip: ChipData, store: CscaStore
) -> None:
    sod = _rebuild(
        chip.sod,
        lambda i: _signer(i).__setitem__("signature_algorithm", {"algorithm": "rsassa_pkcs1v15"}),
    )
    assert parse_sod(sod).signature_algorithm.hash_name == "sha256"
    assert _verify(dataclasses.replace(chip, sod=sod), store).ok


def test_unknown_signature_algorithm(chip: ChipData, store: CscaStore) -> None:
    sod = _rebuild(
        chip.sod, lambda i: _signer(i).__setitem__("signature_algorithm", {"algorithm": "1.2.3.4"})
    )
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    assert result.result(ChipCheck.SOD_STRUCTURE).failure is ChipFailure.UNSUPPORTED_ALGORITHM
    assert "unsupported algorithm 1.2.3.4" in result.result(ChipCheck.SOD_STRUCTURE).detail


# --- CSCA store ------------------------------------------------------------------------


def test_store_refuses_a_certificate_that_is_not_a_ca(ds: Signer) -> None:
    with pytest.raises(CscaStoreError, match=r"CN=DS Utopia 1.*is not a CA certificate"):
        CscaStore([ds.cert])


def test_store_loads_pem_bundles_and_der_files(csca: Signer, tmp_path: Path) -> None:
    other = make_csca(Scheme.ECDSA, name="CSCA Other")
    pem = b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in (csca, other))
    assert len(CscaStore.from_pem(pem)) == 2
    (tmp_path / "a.pem").write_bytes(pem)
    (tmp_path / "b.der").write_bytes(other.cert.public_bytes(serialization.Encoding.DER))
    store = CscaStore.from_files([tmp_path / "a.pem", tmp_path / "b.der"])
    assert len(store) == 3
    assert {c.subject.rfc4514_string() for c in store} == {
        "CN=CSCA Utopia,O=Utopia test PKI,C=UT",
        "CN=CSCA Other,O=Utopia test PKI,C=UT",
    }
    (tmp_path / "bad.der").write_bytes(b"not a certificate")
    with pytest.raises(CscaStoreError, match=r"bad\.der: unreadable"):
        CscaStore.from_files([tmp_path / "bad.der"])
    with pytest.raises(CscaStoreError, match="not a PEM certificate bundle"):
        CscaStore.from_pem(b"garbage")
