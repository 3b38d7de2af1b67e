"""Passive authentication (egate.sod, egate.chip.verify_chip) on chips built in
tests/egate/chipbuilder.py with their own test CSCA, and every tampering case."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import cms
from chipbuilder import (
    NOW,
    TD3,
    Scheme,
    Signer,
    build_chip,
    build_sod,
    dg1,
    dg2,
    facial_record,
    gradient_image,
    make_csca,
    make_ds,
    tlv,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from egate.chip import (
    CheckStatus,
    ChipCheck,
    ChipData,
    ChipFailure,
    ChipVerification,
    verify_chip,
)
from egate.csca import CscaStore
from egate.documents import TravelDocument
from egate.mrz import format_mrz, parse_mrz
from egate.sod import LdsSecurityObject, SodError, parse_sod
from egate.tlv import read_single

TODAY = NOW.date()
PRINTED = parse_mrz(TD3, today=TODAY)


JPEG = gradient_image()


@pytest.fixture(scope="module")
def store(csca: Signer) -> CscaStore:
    return CscaStore([csca.cert])


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
        == parse_sod(chip.sod).signed.signature_algorithm.scheme.value
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
    forged_dg2 = dg2([facial_record(gradient_image("JPEG", (64, 64)), 64, 64)])
    sod = build_sod({1: chip.dg1, 2: forged_dg2}, ds, message_digest=genuine.signed.message_digest)
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
    signed = parsed.signed
    cert = signed.signer_certificate
    return (
        dict(parsed.data_group_hashes),
        parsed.hash_algorithm,
        signed.content,
        signed.signed_attributes,
        signed.signature,
        signed.signature_algorithm,
        signed.digest_algorithm,
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
            "eContentType 1.2.3.4 is not 2.23.136.1.1.1",
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
    assert parse_sod(sod).signed.signer_certificate == ds.cert
    assert _verify(dataclasses.replace(chip, sod=sod), store).ok


def test_plain_rsa_encryption_oid_takes_the_digest_algorithm(
    chip: ChipData, store: CscaStore
) -> None:
    sod = _rebuild(
        chip.sod,
        lambda i: _signer(i).__setitem__("signature_algorithm", {"algorithm": "rsassa_pkcs1v15"}),
    )
    assert parse_sod(sod).signed.signature_algorithm.hash_name == "sha256"
    assert _verify(dataclasses.replace(chip, sod=sod), store).ok


def test_unknown_signature_algorithm(chip: ChipData, store: CscaStore) -> None:
    sod = _rebuild(
        chip.sod, lambda i: _signer(i).__setitem__("signature_algorithm", {"algorithm": "1.2.3.4"})
    )
    result = _verify(dataclasses.replace(chip, sod=sod), store)
    assert result.result(ChipCheck.SOD_STRUCTURE).failure is ChipFailure.UNSUPPORTED_ALGORITHM
    assert "unsupported algorithm 1.2.3.4" in result.result(ChipCheck.SOD_STRUCTURE).detail


def test_signer_certificate_with_an_impossible_version_is_a_malformed_sod(
    ds: Signer, store: CscaStore
) -> None:
    # cryptography raises InvalidVersion (not a ValueError) for X.509 version 4; found by
    # hypothesis flipping SOD bytes. It must reject the chip, not escape verify_chip.
    chip = build_chip(TD3, JPEG, 96, 128, ds)
    at = chip.sod.find(b"\xa0\x03\x02\x01\x02")  # [0] { INTEGER 2 } = X.509 v3
    forged = chip.sod[: at + 4] + b"\x03" + chip.sod[at + 5 :]
    result = _verify(ChipData(chip.dg1, chip.dg2, forged), store)
    assert result.failures == (ChipFailure.SOD_MALFORMED,)
    assert "not a valid X509 version" in result.result(ChipCheck.SOD_STRUCTURE).detail
