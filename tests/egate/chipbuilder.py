"""Builds complete eMRTD chips for tests: a test CSCA, a Document Signer certificate,
DG1, DG2 around a real JPEG, and the SOD signing their hashes.

Everything is encoded here from Doc 9303 parts 10-12 and ISO/IEC 19794-5 with
`cryptography` and `asn1crypto`; the TLV and facial-record writers below are
independent of egate's readers, so a shared misreading cannot hide.
"""

from __future__ import annotations

import enum
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from PIL import Image

from egate.chip import ChipData
from egate.sod import LDS_SECURITY_OBJECT_OID, LdsSecurityObject

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
# The Doc 9303 part 4 TD3 specimen (shared/notes/border-standards.md).
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"


def gradient_image(fmt: str = "JPEG", size: tuple[int, int] = (96, 128)) -> bytes:
    """A real encoded image (Pillow format name, e.g. "JPEG", "JPEG2000"): a gradient."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def tlv(tag: int, value: bytes) -> bytes:
    """BER-TLV with a DER length (short form below 128, else 81/82/83 + big-endian)."""
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        size = (n.bit_length() + 7) // 8
        length = bytes([0x80 | size]) + n.to_bytes(size, "big")
    return tag_bytes + length + value


def dg1(mrz: str) -> bytes:
    """EF.DG1: 61 { 5F1F <MRZ without line breaks> }."""
    return tlv(0x61, tlv(0x5F1F, mrz.replace("\n", "").encode("ascii")))


def facial_record(
    image: bytes, width: int, height: int, *, data_type: int = 0, points: int = 0
) -> bytes:
    """ISO/IEC 19794-5:2005 facial record with one image (data type 0 JPEG, 1 JPEG 2000)."""
    info = (
        (20 + 8 * points + 12 + len(image)).to_bytes(4, "big")  # facial record data length
        + points.to_bytes(2, "big")
        + bytes([1, 0, 0])  # gender male, eye colour, hair colour unspecified
        + b"\x00\x00\x00"  # property mask
        + b"\x00\x00"  # expression unspecified
        + b"\x00\x00\x00"  # pose angles
        + b"\x00\x00\x00"  # pose angle uncertainty
    )
    feature_points = b"".join(bytes([1, 0x31 + i, 0, 10, 0, 20, 0, 0]) for i in range(points))
    image_info = (
        bytes([1, data_type])  # full frontal, image data type
        + width.to_bytes(2, "big")
        + height.to_bytes(2, "big")
        + bytes([1, 2])  # colour space sRGB, source: digital still camera
        + b"\x00\x00\x00\x00"  # device type, quality
    )
    block = info + feature_points + image_info + image
    return b"FAC\x00" + b"010\x00" + (14 + len(block)).to_bytes(4, "big") + b"\x00\x01" + block


def dg2(records: list[bytes]) -> bytes:
    """EF.DG2: 75 { 7F61 { 02 count, 7F60 { A1 header, 5F2E record }... } }."""
    header = tlv(0xA1, tlv(0x80, b"\x01\x01") + tlv(0x87, b"\x01\x01") + tlv(0x88, b"\x00\x08"))
    templates = b"".join(tlv(0x7F60, header + tlv(0x5F2E, r)) for r in records)
    return tlv(0x75, tlv(0x7F61, tlv(0x02, bytes([len(records)])) + templates))


class Scheme(enum.Enum):
    RSA_PKCS1V15 = "rsa-pkcs1v15"
    RSA_PSS = "rsa-pss"
    ECDSA = "ecdsa"
    ECDSA_PLAIN = "ecdsa-plain"


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(scheme: Scheme) -> PrivateKey:
    if scheme in (Scheme.RSA_PKCS1V15, Scheme.RSA_PSS):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def sign(key: PrivateKey, scheme: Scheme, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        pad = _pss() if scheme is Scheme.RSA_PSS else padding.PKCS1v15()
        return key.sign(data, pad, hashes.SHA256())
    der = key.sign(data, ec.ECDSA(hashes.SHA256()))
    if scheme is Scheme.ECDSA_PLAIN:
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return der


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "UT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Utopia test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class Signer:
    """A key with its certificate, and the scheme it signs with."""

    key: PrivateKey
    cert: x509.Certificate
    scheme: Scheme


def _certificate(
    subject: x509.Name,
    key: PrivateKey,
    issuer: Signer | None,
    *,
    ca: bool,
    scheme: Scheme,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    rsa_padding = (
        _pss() if scheme is Scheme.RSA_PSS and isinstance(signing_key, rsa.RSAPrivateKey) else None
    )
    return builder.sign(signing_key, hashes.SHA256(), rsa_padding=rsa_padding)


def make_csca(
    scheme: Scheme = Scheme.RSA_PKCS1V15,
    *,
    name: str = "CSCA Utopia",
    not_before: datetime = NOW - timedelta(days=3650),
    not_after: datetime = NOW + timedelta(days=3650),
) -> Signer:
    """A self-signed Country Signing CA (basicConstraints cA, pathLen 0)."""
    key = new_key(scheme)
    cert = _certificate(
        _name(name), key, None, ca=True, scheme=scheme, not_before=not_before, not_after=not_after
    )
    return Signer(key, cert, scheme)


def make_ds(
    csca: Signer,
    scheme: Scheme | None = None,
    *,
    name: str = "DS Utopia 1",
    not_before: datetime = NOW - timedelta(days=90),
    not_after: datetime = NOW + timedelta(days=3650),
) -> Signer:
    """A Document Signer certificate issued by `csca`; signs with `scheme`
    (default: the CSCA's)."""
    scheme = scheme or csca.scheme
    key = new_key(scheme)
    cert = _certificate(
        _name(name),
        key,
        csca,
        ca=False,
        scheme=csca.scheme,
        not_before=not_before,
        not_after=not_after,
    )
    return Signer(key, cert, scheme)


_SIGNATURE_ALGORITHM = {
    Scheme.RSA_PKCS1V15: {"algorithm": "sha256_rsa"},
    Scheme.RSA_PSS: {
        "algorithm": "rsassa_pss",
        "parameters": {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32,
            "trailer_field": "trailer_field_bc",
        },
    },
    Scheme.ECDSA: {"algorithm": "sha256_ecdsa"},
    Scheme.ECDSA_PLAIN: {"algorithm": "0.4.0.127.0.7.1.1.4.1.3"},  # BSI ecdsa-plain-SHA256
}


def build_sod(
    groups: Mapping[int, bytes],
    signer: Signer,
    *,
    hash_algorithm: str = "sha256",
    lds_version: str | None = "0108",
    message_digest: bytes | None = None,
    content_type: str | None = None,
    tamper_signature: Callable[[bytes], bytes] | None = None,
    certificates: list[x509.Certificate] | None = None,
) -> bytes:
    """EF.SOD: 77 { ContentInfo { SignedData { LDSSecurityObject(hashes of `groups`),
    signer's certificate, one SignerInfo } } }. The keyword arguments forge or
    corrupt single parts for tampering tests."""
    lds_fields: dict[str, object] = {
        "version": 1 if lds_version else 0,
        "hash_algorithm": {"algorithm": hash_algorithm},
        "data_group_hash_values": [
            {"number": n, "value": hashlib.new(hash_algorithm, data).digest()}
            for n, data in sorted(groups.items())
        ],
    }
    if lds_version:
        lds_fields["lds_version_info"] = {"lds_version": lds_version, "unicode_version": "040000"}
    content = LdsSecurityObject(lds_fields).dump()
    return tlv(
        0x77,
        signed_data(
            content,
            LDS_SECURITY_OBJECT_OID,
            signer,
            message_digest=message_digest,
            content_type=content_type,
            tamper_signature=tamper_signature,
            certificates=certificates,
        ),
    )


def signed_data(
    content: bytes,
    content_oid: str,
    signer: Signer,
    *,
    message_digest: bytes | None = None,
    content_type: str | None = None,
    tamper_signature: Callable[[bytes], bytes] | None = None,
    certificates: list[x509.Certificate] | None = None,
) -> bytes:
    """DER ContentInfo { SignedData { `content` of type `content_oid`, the signer's
    certificate (or `certificates`), one SignerInfo with signed attributes } }."""
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": [content_type or content_oid]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": NOW})]}),
            cms.CMSAttribute(
                {
                    "type": "message_digest",
                    "values": [message_digest or hashlib.sha256(content).digest()],
                }
            ),
        ]
    )
    signature = sign(signer.key, signer.scheme, attrs.dump())
    if tamper_signature:
        signature = tamper_signature(signature)
    cert = asn1_x509.Certificate.load(signer.cert.public_bytes(serialization.Encoding.DER))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": cert.issuer,
                        "serial_number": cert.serial_number,
                    }
                }
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm(_SIGNATURE_ALGORITHM[signer.scheme]),
            "signature": signature,
        }
    )
    carried = [signer.cert] if certificates is None else certificates
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": content_oid, "content": content},
            "certificates": [
                asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                for c in carried
            ],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def build_master_list(cscas: list[x509.Certificate], signer: Signer, **options: object) -> bytes:
    """An ICAO CSCA master list (Doc 9303 part 12): SignedData of
    CscaMasterList ::= SEQUENCE { version 0, certList SET OF Certificate }."""
    der = [c.public_bytes(serialization.Encoding.DER) for c in cscas]
    cert_list = tlv(0x31, b"".join(sorted(der)))  # DER SET OF: sorted encodings
    content = tlv(0x30, bytes.fromhex("020100") + cert_list)
    return signed_data(content, "2.23.136.1.1.2", signer, **options)  # type: ignore[arg-type]


def build_chip(
    mrz: str, portrait: bytes, width: int, height: int, signer: Signer, **sod_options: object
) -> ChipData:
    """A chip whose DG1 holds `mrz`, DG2 the JPEG `portrait`, signed by `signer`."""
    group1, group2 = dg1(mrz), dg2([facial_record(portrait, width, height)])
    sod = build_sod({1: group1, 2: group2}, signer, **sod_options)  # type: ignore[arg-type]
    return ChipData(dg1=group1, dg2=group2, sod=sod)
