"""The trusted Country Signing CA certificates (CSCA, ICAO Doc 9303 part 12)
against which Document Signer certificates from chips are checked."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from egate import EgateError
from egate.sod import SignedDataError, digest, read_signed_data, signature_valid
from egate.sod import UnsupportedAlgorithm as SodUnsupported

#: id-icao-cscaMasterList (Doc 9303 part 12)
CSCA_MASTER_LIST_OID = "2.23.136.1.1.2"


class _Certificates(core.SetOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = asn1_x509.Certificate


class _CscaMasterList(core.Sequence):  # type: ignore[misc]
    """CscaMasterList ::= SEQUENCE { version INTEGER (v0), certList SET OF Certificate }."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("cert_list", _Certificates),
    ]


class CscaStoreError(EgateError):
    """A certificate that cannot be loaded or is not a CA certificate."""

    code = "csca_invalid"

    def __init__(self, reason: str, *, value: str) -> None:
        self.reason = reason
        self.value = value
        super().__init__(f"CSCA certificate {value}: {reason}")


def _key_id(cert: x509.Certificate, ext_type: type[x509.ExtensionType]) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None
    if isinstance(ext, x509.SubjectKeyIdentifier):
        return ext.digest
    if isinstance(ext, x509.AuthorityKeyIdentifier):
        return ext.key_identifier
    return None


class CscaStore:
    """CSCA certificates indexed by subject. Several may share a subject (key
    rollover); the authority key identifier of a DS certificate, when present,
    narrows the choice, and the signature decides."""

    def __init__(self, certificates: Iterable[x509.Certificate] = ()) -> None:
        self._by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in certificates:
            self.add(cert)

    @classmethod
    def from_pem(cls, data: bytes) -> CscaStore:
        """A store of every certificate in a PEM bundle."""
        try:
            return cls(x509.load_pem_x509_certificates(data))
        except ValueError as e:
            raise CscaStoreError(f"not a PEM certificate bundle ({e})", value="<pem>") from e

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> CscaStore:
        """A store of the certificates in `paths` (PEM bundles or single DER files)."""
        store = cls()
        for path in paths:
            data = path.read_bytes()
            try:
                if b"-----BEGIN" in data:
                    certs = x509.load_pem_x509_certificates(data)
                else:
                    certs = [x509.load_der_x509_certificate(data)]
            except ValueError as e:
                raise CscaStoreError(f"unreadable ({e})", value=str(path)) from e
            for cert in certs:
                store.add(cert)
        return store

    @classmethod
    def from_master_list(cls, data: bytes, *, trust: CscaStore, at: datetime) -> CscaStore:
        """The CSCA certificates of an ICAO CSCA master list (DER CMS SignedData of a
        CscaMasterList, as the ICAO PKD publishes it), once its signature is checked:
        the signed attributes bind the list, the Master List Signer's signature
        verifies, its certificate was issued by a CSCA in `trust` (the issuing
        state's, loaded beforehand) and is valid at `at` (aware). Raises
        `CscaStoreError` naming the failed step."""
        try:
            signed = read_signed_data(data, CSCA_MASTER_LIST_OID)
            binds = signed.content_type == CSCA_MASTER_LIST_OID and signed.message_digest == digest(
                signed.digest_algorithm, signed.content
            )
            signer = signed.signer_certificate
            valid = signer is not None and signature_valid(
                signer, signed.signature_algorithm, signed.signature, signed.signed_attributes
            )
        except (SignedDataError, SodUnsupported) as e:
            raise CscaStoreError(str(e), value="master list") from e
        if not binds:
            raise CscaStoreError("signed attributes do not bind the list", value="master list")
        if signer is None or not valid:
            raise CscaStoreError("signature does not verify", value="master list")
        if trust.issuer_of(signer) is None:
            raise CscaStoreError(
                f"signer {signer.subject.rfc4514_string()} was not issued by a trusted CSCA",
                value="master list",
            )
        if not signer.not_valid_before_utc <= at <= signer.not_valid_after_utc:
            raise CscaStoreError(f"signer certificate not valid at {at}", value="master list")
        try:
            listed = _CscaMasterList.load(signed.content, strict=True)["cert_list"]
            return cls(x509.load_der_x509_certificate(c.dump()) for c in listed)
        except ValueError as e:
            raise CscaStoreError(f"CscaMasterList: {e}", value="master list") from e

    def add(self, cert: x509.Certificate) -> None:
        """Trust `cert`; it must be a CA certificate (basicConstraints cA true)."""
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CscaStoreError("is not a CA certificate", value=cert.subject.rfc4514_string())
        self._by_subject.setdefault(cert.subject, []).append(cert)

    def __len__(self) -> int:
        return sum(len(certs) for certs in self._by_subject.values())

    def __iter__(self) -> Iterator[x509.Certificate]:
        for certs in self._by_subject.values():
            yield from certs

    def candidates(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The trusted CSCAs that may have issued `cert` (same subject as its issuer,
        matching key identifier when both certificates carry one)."""
        wanted = _key_id(cert, x509.AuthorityKeyIdentifier)
        return [
            ca
            for ca in self._by_subject.get(cert.issuer, [])
            if wanted is None or _key_id(ca, x509.SubjectKeyIdentifier) in (None, wanted)
        ]

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The candidate CSCA whose key verifies `cert`'s signature, or None."""
        for ca in self.candidates(cert):
            try:
                cert.verify_directly_issued_by(ca)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                continue
            return ca
        return None
