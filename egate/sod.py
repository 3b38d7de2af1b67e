"""The Document Security Object (EF.SOD) of an eMRTD: ICAO Doc 9303 part 10 (file)
and part 11/12 (content), a CMS SignedData (RFC 5652) whose encapsulated content
is the LDSSecurityObject: the hash of every data group, signed by the Document
Signer (DS) whose certificate the SOD carries.

`parse_sod` turns the bytes into a plain `SecurityObject`; the cryptographic
checks are `signature_valid` here and `CscaStore` in `egate.csca`, composed by
`egate.chip.verify_chip`.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as CryptographyUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from egate import EgateError
from egate.tlv import TlvError, read_single

SOD_TAG = 0x77
#: id-icao-mrtd-security-ldsSecurityObject (Doc 9303 part 10, 4.6.2)
LDS_SECURITY_OBJECT_OID = "2.23.136.1.1.1"
#: BSI TR-03111 ecdsa-plain-signatures: r || s instead of a DER SEQUENCE
_ECDSA_PLAIN = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class SignedDataError(EgateError):
    """A CMS SignedData (RFC 5652) that Doc 9303 does not allow or that does not parse."""

    code = "cms_malformed"
    what = "CMS SignedData"

    def __init__(self, reason: str, *, value: bytes = b"") -> None:
        self.reason = reason
        self.value = value
        super().__init__(f"malformed {self.what}: {reason[:300]}")  # asn1crypto may quote values


class SodError(SignedDataError):
    """The SOD cannot be read: not tag 77, not CMS SignedData, not an LDSSecurityObject."""

    code = "sod_malformed"
    what = "SOD"


class UnsupportedAlgorithm(EgateError):
    """A hash or signature algorithm this reader does not implement."""

    code = "sod_unsupported_algorithm"

    def __init__(self, algorithm: str) -> None:
        self.value = algorithm
        super().__init__(f"unsupported algorithm {algorithm}")


class _DataGroupHash(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("number", core.Integer),
        ("value", core.OctetString),
    ]


class _DataGroupHashes(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _DataGroupHash


class _LdsVersionInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LdsSecurityObject(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """LDSSecurityObject ::= SEQUENCE { version, hashAlgorithm, dataGroupHashValues,
    ldsVersionInfo OPTIONAL } (Doc 9303 part 10, 4.6.2.2)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", _DataGroupHashes),
        ("lds_version_info", _LdsVersionInfo, {"optional": True}),
    ]


class SignatureScheme(enum.Enum):
    RSA_PKCS1V15 = "rsassa-pkcs1-v1_5"
    RSA_PSS = "rsassa-pss"
    ECDSA = "ecdsa"  # DER Ecdsa-Sig-Value (RFC 5758)
    ECDSA_PLAIN = "ecdsa-plain"  # r || s (BSI TR-03111)


@dataclass(frozen=True, slots=True)
class SignatureAlgorithm:
    """How the signer signed: scheme, hash, and for PSS the MGF1 hash and salt length."""

    scheme: SignatureScheme
    hash_name: str
    mgf_hash_name: str | None = None
    salt_length: int | None = None


@dataclass(frozen=True, slots=True)
class SignedContent:
    """A CMS SignedData with its one signer, decoded (RFC 5652, Doc 9303 part 12).

    `content`: the encapsulated content as signed (DER); `signed_attributes`: the DER
    SET OF Attribute the signature covers; `content_type` (dotted OID) and
    `message_digest` from those attributes; `signer_certificate`: the certificate
    the SignedData carries for its signer (None when it does not carry it).
    """

    content: bytes
    content_type: str | None
    message_digest: bytes | None
    digest_algorithm: str
    signed_attributes: bytes
    signature_algorithm: SignatureAlgorithm
    signature: bytes
    signer_certificate: x509.Certificate | None


@dataclass(frozen=True, slots=True)
class SecurityObject:
    """What passive authentication needs from a SOD: the LDSSecurityObject
    (`data_group_hashes`: data-group number -> hash under `hash_algorithm`, e.g.
    "sha256"; `lds_version`, None for a v0 object) and the signature over it."""

    hash_algorithm: str
    data_group_hashes: Mapping[int, bytes]
    lds_version: str | None
    signed: SignedContent


def digest(algorithm: str, data: bytes) -> bytes:
    """`data` hashed with `algorithm` ("sha1", "sha224", "sha256", "sha384", "sha512")."""
    if algorithm not in _HASHES:
        raise UnsupportedAlgorithm(algorithm)
    return hashlib.new(algorithm, data).digest()


def _signature_algorithm(info: cms.SignerInfo, digest_name: str) -> SignatureAlgorithm:
    algo = info["signature_algorithm"]
    dotted = algo["algorithm"].dotted
    if dotted in _ECDSA_PLAIN:
        return SignatureAlgorithm(SignatureScheme.ECDSA_PLAIN, _ECDSA_PLAIN[dotted])
    try:
        name = algo.signature_algo
    except ValueError:
        raise UnsupportedAlgorithm(dotted) from None
    if name == "rsassa_pss":
        params = algo["parameters"]
        mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
        return SignatureAlgorithm(
            SignatureScheme.RSA_PSS,
            params["hash_algorithm"]["algorithm"].native,
            mgf_hash,
            params["salt_length"].native,
        )
    try:  # sha256WithRSAEncryption names its hash; plain rsaEncryption takes the digest's
        hash_name = algo.hash_algo
    except ValueError:
        hash_name = digest_name
    if name == "rsassa_pkcs1v15":
        return SignatureAlgorithm(SignatureScheme.RSA_PKCS1V15, hash_name)
    if name == "ecdsa":
        return SignatureAlgorithm(SignatureScheme.ECDSA, hash_name)
    raise UnsupportedAlgorithm(str(name))


def _attribute(attrs: cms.CMSAttributes, name: str) -> Any:
    """The single value of signed attribute `name` (an asn1crypto value), or None."""
    for attr in attrs:
        if attr["type"].native == name:
            values = attr["values"]
            if len(values) != 1:
                raise SignedDataError(f"signed attribute {name} must have exactly one value")
            return values[0]
    return None


def _signer_certificate(
    signed: cms.SignedData, info: cms.SignerInfo
) -> asn1_x509.Certificate | None:
    """The certificate the SignerInfo's `sid` designates, among those in the SOD."""
    sid = info["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "subject_key_identifier":
            if cert.key_identifier == sid.chosen.native:
                return cert
        elif (cert.issuer, cert.serial_number) == (
            sid.chosen["issuer"],
            sid.chosen["serial_number"].native,
        ):
            return cert
    return None


def parse_sod(sod: bytes) -> SecurityObject:
    """Decode EF.SOD (tag 77 around a CMS ContentInfo). Raises `SodError` on any
    structural problem and `UnsupportedAlgorithm` for an unknown algorithm."""
    try:
        inner = read_single(sod, SOD_TAG).value
    except TlvError as e:
        raise SodError(f"not a tag-77 object: {e.reason}", value=sod[:16]) from e
    try:
        signed = read_signed_data(inner, LDS_SECURITY_OBJECT_OID)
        lds = LdsSecurityObject.load(signed.content, strict=True)
        hashes_by_group = {
            int(h["number"].native): bytes(h["value"].native) for h in lds["data_group_hash_values"]
        }
        if len(hashes_by_group) != len(lds["data_group_hash_values"]):
            raise SodError("a data group is hashed twice")
        version_info = lds["lds_version_info"]
        return SecurityObject(
            hash_algorithm=lds["hash_algorithm"]["algorithm"].native,
            data_group_hashes=MappingProxyType(hashes_by_group),
            lds_version=None
            if isinstance(version_info, core.Void)
            else version_info["lds_version"].native,
            signed=signed,
        )
    except SodError:
        raise
    except SignedDataError as e:
        raise SodError(e.reason, value=e.value) from e
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise SodError(f"LDSSecurityObject: {e}", value=inner[:16]) from e


def read_signed_data(der: bytes, content_oid: str) -> SignedContent:
    """Decode a DER ContentInfo holding a SignedData with one signer, signed attributes,
    and encapsulated content of type `content_oid` (dotted). Raises `SignedDataError`
    or `UnsupportedAlgorithm`; verifies nothing."""
    try:
        return _decode(der, content_oid)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise SignedDataError(f"CMS structure: {e}", value=der[:16]) from e


def _decode(der: bytes, content_oid: str) -> SignedContent:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise SignedDataError(f"content type {info['content_type'].native}, expected signed data")
    signed = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].dotted != content_oid:
        raise SignedDataError(f"eContentType {encap['content_type'].dotted} is not {content_oid}")
    content = encap["content"].native
    if not isinstance(content, bytes):
        raise SignedDataError("eContent is not an OCTET STRING")
    infos = signed["signer_infos"]
    if len(infos) != 1:
        raise SignedDataError(f"{len(infos)} SignerInfos, Doc 9303 requires exactly one")
    signer = infos[0]
    attrs = signer["signed_attrs"]
    if not attrs:
        raise SignedDataError("SignerInfo without signed attributes")
    digest_name = signer["digest_algorithm"]["algorithm"].native
    signer_cert = _signer_certificate(signed, signer)
    content_type = _attribute(attrs, "content_type")
    message_digest = _attribute(attrs, "message_digest")
    return SignedContent(
        content=content,
        content_type=None if content_type is None else content_type.dotted,
        message_digest=None if message_digest is None else message_digest.native,
        digest_algorithm=digest_name,
        # the signature covers the attributes re-tagged as a universal SET OF (RFC 5652, 5.4)
        signed_attributes=b"\x31" + attrs.dump()[1:],
        signature_algorithm=_signature_algorithm(signer, digest_name),
        signature=signer["signature"].native,
        signer_certificate=None if signer_cert is None else _load_certificate(signer_cert.dump()),
    )


def _load_certificate(der: bytes) -> x509.Certificate:
    """The signer's certificate, with the parts that cryptography parses lazily forced
    now, so that a damaged key or extension is a structure problem, not a crash later."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except x509.InvalidVersion as e:  # not a ValueError, so the callers' handler misses it
        raise SignedDataError(f"signer certificate: {e}", value=der[:16]) from e
    try:
        cert.public_key()
    except CryptographyUnsupported as e:
        raise UnsupportedAlgorithm(f"signer certificate key: {e}") from e
    _ = cert.extensions, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.issuer
    return cert


def _hash(name: str) -> hashes.HashAlgorithm:
    if name not in _HASHES:
        raise UnsupportedAlgorithm(name)
    return _HASHES[name]()


def signature_valid(
    certificate: x509.Certificate, algorithm: SignatureAlgorithm, signature: bytes, data: bytes
) -> bool:
    """Whether `signature` over `data` verifies under `certificate`'s public key.
    A key of the wrong type for the scheme counts as an invalid signature;
    an unknown hash raises `UnsupportedAlgorithm`."""
    key = certificate.public_key()
    digest_algorithm = _hash(algorithm.hash_name)
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm.scheme is SignatureScheme.RSA_PKCS1V15:
            key.verify(signature, data, padding.PKCS1v15(), digest_algorithm)
        elif isinstance(key, rsa.RSAPublicKey) and algorithm.scheme is SignatureScheme.RSA_PSS:
            mgf = padding.MGF1(_hash(algorithm.mgf_hash_name or algorithm.hash_name))
            salt = algorithm.salt_length if algorithm.salt_length is not None else 20
            key.verify(signature, data, padding.PSS(mgf, salt), digest_algorithm)
        elif (
            isinstance(key, ec.EllipticCurvePublicKey) and algorithm.scheme is SignatureScheme.ECDSA
        ):
            key.verify(signature, data, ec.ECDSA(digest_algorithm))
        elif (
            isinstance(key, ec.EllipticCurvePublicKey)
            and algorithm.scheme is SignatureScheme.ECDSA_PLAIN
        ):
            half = len(signature) // 2
            if len(signature) % 2 or not half:
                return False
            r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest_algorithm))
        else:
            return False
    except (InvalidSignature, ValueError):  # ValueError: e.g. a PSS salt too long for the key
        return False
    return True
