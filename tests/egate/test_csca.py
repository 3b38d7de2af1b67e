"""The trusted CSCA certificates (egate.csca): PEM/DER files and ICAO master lists."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from chipbuilder import (
    NOW,
    TD3,
    Scheme,
    Signer,
    build_master_list,
    gradient_image,
    make_csca,
    make_ds,
)
from cryptography.hazmat.primitives import serialization

from egate.chip import (
    ChipData,
    verify_chip,
)
from egate.csca import CscaStore, CscaStoreError
from egate.mrz import parse_mrz

TODAY = NOW.date()
PRINTED = parse_mrz(TD3, today=TODAY)


JPEG = gradient_image()


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


# --- CSCA master list --------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_signer(csca: Signer) -> Signer:
    return make_ds(csca, name="ML Signer Utopia")


def test_master_list_yields_its_cscas_and_they_verify_chips(
    csca: Signer, ml_signer: Signer, chip: ChipData
) -> None:
    other = make_csca(Scheme.ECDSA, name="CSCA Other")
    data = build_master_list([csca.cert, other.cert], ml_signer)
    store = CscaStore.from_master_list(data, trust=CscaStore([csca.cert]), at=NOW)
    assert {c.subject for c in store} == {csca.cert.subject, other.cert.subject}
    assert verify_chip(chip, None, store, at=NOW).ok


def _flip_last(signature: bytes) -> bytes:
    return signature[:-1] + bytes([signature[-1] ^ 0x01])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tamper_signature": _flip_last}, "signature does not verify"),
        ({"message_digest": b"\x00" * 32}, "signed attributes do not bind the list"),
        ({"certificates": []}, "signature does not verify"),
    ],
)
def test_forged_master_lists_are_refused(
    csca: Signer, ml_signer: Signer, options: dict[str, object], match: str
) -> None:
    data = build_master_list([csca.cert], ml_signer, **options)
    with pytest.raises(CscaStoreError, match=match):
        CscaStore.from_master_list(data, trust=CscaStore([csca.cert]), at=NOW)


def test_master_list_signed_outside_the_trusted_cscas(csca: Signer) -> None:
    rogue = make_csca(Scheme.ECDSA, name="CSCA Rogue")
    data = build_master_list([rogue.cert], make_ds(rogue, name="ML Signer Rogue"))
    with pytest.raises(CscaStoreError, match=r"CN=ML Signer Rogue.*not issued by a trusted CSCA"):
        CscaStore.from_master_list(data, trust=CscaStore([csca.cert]), at=NOW)


def test_master_list_signer_out_of_validity(csca: Signer) -> None:
    expired = make_ds(csca, name="ML Signer Old", not_after=NOW - timedelta(days=1))
    with pytest.raises(CscaStoreError, match="signer certificate not valid at"):
        CscaStore.from_master_list(
            build_master_list([csca.cert], expired), trust=CscaStore([csca.cert]), at=NOW
        )


def test_master_list_with_a_non_ca_certificate(csca: Signer, ml_signer: Signer, ds: Signer) -> None:
    data = build_master_list([csca.cert, ds.cert], ml_signer)
    with pytest.raises(CscaStoreError, match="is not a CA certificate"):
        CscaStore.from_master_list(data, trust=CscaStore([csca.cert]), at=NOW)


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"\x30\x00", "malformed CMS SignedData"), (b"", "malformed CMS SignedData")],
)
def test_unreadable_master_list(csca: Signer, data: bytes, match: str) -> None:
    with pytest.raises(CscaStoreError, match=match):
        CscaStore.from_master_list(data, trust=CscaStore([csca.cert]), at=NOW)
