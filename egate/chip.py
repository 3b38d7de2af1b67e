"""The eMRTD chip as the gate reads it: DG1 (the MRZ), DG2 (the portrait) and
EF.SOD, and passive authentication over them (ICAO Doc 9303 parts 10-12).

`verify_chip` never raises on bad chip content: every problem becomes a typed
`ChipFailure` in the `ChipVerification`, so the gate can refer the traveller
and say why. The readers `read_dg1` and `read_dg2` raise `ChipFormatError`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography import x509

from egate import EgateError
from egate.csca import CscaStore
from egate.documents import TravelDocument
from egate.mrz import MrzError, parse_mrz
from egate.sod import (
    LDS_SECURITY_OBJECT_OID,
    SecurityObject,
    SignedContent,
    SodError,
    UnsupportedAlgorithm,
    digest,
    parse_sod,
    signature_valid,
)
from egate.tlv import Tlv, TlvError, read_single

# Doc 9303 part 10, 4.7: data-group and biometric template tags
DG1_TAG, MRZ_TAG = 0x61, 0x5F1F
DG2_TAG, TEMPLATE_GROUP_TAG, TEMPLATE_COUNT_TAG = 0x75, 0x7F61, 0x02
TEMPLATE_TAG, HEADER_TAG, BDB_TAG, BDB_CONSTRUCTED_TAG = 0x7F60, 0xA1, 0x5F2E, 0x7F2E
# ISO/IEC 19794-5:2005 facial record: "FAC\0", version "010\0"
_FACE_MAGIC, _FACE_VERSION = b"FAC\x00", b"010\x00"
_GENERAL_HEADER, _FACIAL_INFO, _FEATURE_POINT, _IMAGE_INFO = 14, 20, 8, 12
_MRZ_WIDTH = {90: 30, 72: 36, 88: 44}  # DG1 holds the MRZ without line breaks


class ChipFormatError(EgateError):
    """A data group that is not what Doc 9303 says it is; `data_group` is its number."""

    code = "chip_data_malformed"

    def __init__(self, data_group: int, reason: str, *, value: bytes, offset: int = 0) -> None:
        self.data_group = data_group
        self.reason = reason
        self.value = value
        self.offset = offset
        super().__init__(f"DG{data_group}: {reason} (at byte {offset}: {value[:16].hex()})")


@dataclass(frozen=True, slots=True)
class ChipData:
    """The files read from the chip, as raw bytes: EF.DG1, EF.DG2, EF.SOD, and any
    other data groups read (number -> bytes), which the SOD hashes must cover too."""

    dg1: bytes
    dg2: bytes
    sod: bytes
    other_groups: tuple[tuple[int, bytes], ...] = ()

    @property
    def data_groups(self) -> Mapping[int, bytes]:
        return {1: self.dg1, 2: self.dg2, **dict(self.other_groups)}


def _tlv(data: bytes, tag: int, group: int) -> Tlv:
    try:
        return read_single(data, tag)
    except TlvError as e:
        raise ChipFormatError(group, e.reason, value=e.value, offset=e.offset) from e


def _child(parent: Tlv, tag: int, group: int) -> Tlv:
    try:
        return parent.child(tag)
    except TlvError as e:
        raise ChipFormatError(group, e.reason, value=e.value, offset=parent.offset) from e


def dg1_mrz(dg1: bytes) -> str:
    """The MRZ stored in EF.DG1 (`61 { 5F1F <MRZ> }`), with its lines separated by newlines."""
    raw = _child(_tlv(dg1, DG1_TAG, 1), MRZ_TAG, 1).value
    if len(raw) not in _MRZ_WIDTH:
        raise ChipFormatError(1, f"MRZ of {len(raw)} bytes (expected 90, 72 or 88)", value=raw)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise ChipFormatError(1, "MRZ is not ASCII", value=raw, offset=e.start) from e
    width = _MRZ_WIDTH[len(raw)]
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def read_dg1(dg1: bytes, *, today: date | None = None) -> TravelDocument:
    """The document that EF.DG1 describes; `today` as in `parse_mrz`.
    Raises `ChipFormatError` or the `MrzError` of the stored MRZ."""
    return parse_mrz(dg1_mrz(dg1), today=today)


class ImageFormat(enum.Enum):
    """Portrait encodings allowed in DG2 (ISO/IEC 19794-5 image data type)."""

    JPEG = "image/jpeg"
    JPEG2000 = "image/jp2"


@dataclass(frozen=True, slots=True)
class Portrait:
    """One facial image from DG2: the encoded image bytes and its size in pixels."""

    image: bytes
    format: ImageFormat
    width: int
    height: int


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K_CODESTREAM = b"\xff\x4f\xff\x51"


def _image_format(data_type: int, image: bytes, offset: int) -> ImageFormat:
    if data_type == 0 and image.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data_type == 1 and image.startswith((_JP2_SIGNATURE, _J2K_CODESTREAM)):
        return ImageFormat.JPEG2000
    raise ChipFormatError(
        2,
        f"image data type {data_type} (0 JPEG, 1 JPEG 2000) does not match the image bytes",
        value=image,
        offset=offset,
    )


def _facial_record(bdb: bytes) -> Portrait:
    """The first image of an ISO/IEC 19794-5:2005 facial record data block."""
    if bdb[:4] != _FACE_MAGIC or bdb[4:8] != _FACE_VERSION:
        raise ChipFormatError(2, "not an ISO/IEC 19794-5:2005 facial record", value=bdb)
    record_length = int.from_bytes(bdb[8:12], "big")
    if record_length > len(bdb) or len(bdb) < _GENERAL_HEADER + _FACIAL_INFO:
        raise ChipFormatError(2, f"facial record length {record_length}", value=bdb[8:12])
    pos = _GENERAL_HEADER
    block_end = pos + int.from_bytes(bdb[pos : pos + 4], "big")
    points = int.from_bytes(bdb[pos + 4 : pos + 6], "big")
    info = pos + _FACIAL_INFO + points * _FEATURE_POINT
    image_start = info + _IMAGE_INFO
    if not image_start < block_end <= record_length:
        raise ChipFormatError(2, "facial image block overruns the record", value=bdb, offset=pos)
    header = bdb[info:image_start]
    image = bdb[image_start:block_end]
    return Portrait(
        image=image,
        format=_image_format(header[1], image, image_start),
        width=int.from_bytes(header[2:4], "big"),
        height=int.from_bytes(header[4:6], "big"),
    )


def read_dg2(dg2: bytes) -> tuple[Portrait, ...]:
    """Every portrait in EF.DG2: `75 { 7F61 { 02 count, 7F60 { A1 header, 5F2E facial
    record }... } }`. Raises `ChipFormatError` on malformed TLV or records."""
    group = _child(_tlv(dg2, DG2_TAG, 2), TEMPLATE_GROUP_TAG, 2)
    try:
        children = group.children()
    except TlvError as e:
        raise ChipFormatError(2, e.reason, value=e.value, offset=e.offset) from e
    counts = [c for c in children if c.tag == TEMPLATE_COUNT_TAG]
    templates = [c for c in children if c.tag == TEMPLATE_TAG]
    declared = int.from_bytes(counts[0].value, "big") if counts else -1
    if declared != len(templates) or not templates:
        raise ChipFormatError(
            2, f"template count {declared}, {len(templates)} templates", value=group.value
        )
    portraits = []
    for template in templates:
        try:
            parts = {c.tag: c for c in template.children()}
        except TlvError as e:
            raise ChipFormatError(2, e.reason, value=e.value, offset=e.offset) from e
        if BDB_TAG not in parts:
            found = ", ".join(f"{t:X}" for t in parts)
            raise ChipFormatError(
                2, f"no 5F2E biometric data block ({found})", value=template.value
            )
        portraits.append(_facial_record(parts[BDB_TAG].value))
    return tuple(portraits)


def portrait_from_dg2(dg2: bytes) -> bytes:
    """The first portrait of EF.DG2 as encoded image bytes (JPEG or JPEG 2000)."""
    return read_dg2(dg2)[0].image


class ChipCheck(enum.Enum):
    """The steps of passive authentication, plus DG1 against the printed MRZ."""

    SOD_STRUCTURE = "sod_structure"
    DATA_GROUP_HASHES = "data_group_hashes"
    SIGNED_ATTRIBUTES = "signed_attributes"
    SOD_SIGNATURE = "sod_signature"
    CERTIFICATE_CHAIN = "certificate_chain"
    CERTIFICATE_VALIDITY = "certificate_validity"
    DG1_MRZ = "dg1_mrz"


class CheckStatus(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # an earlier failure left nothing to check, or no printed MRZ given


class ChipFailure(enum.Enum):
    """Why a check failed (machine-readable; the gate's referral detail)."""

    SOD_MALFORMED = "sod_malformed"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    DG_HASH_MISSING = "dg_hash_missing"
    DG_HASH_MISMATCH = "dg_hash_mismatch"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"
    MESSAGE_DIGEST_MISMATCH = "message_digest_mismatch"
    DS_CERT_MISSING = "ds_cert_missing"
    SIGNATURE_INVALID = "signature_invalid"
    UNKNOWN_CSCA = "unknown_csca"
    CERT_CHAIN_INVALID = "cert_chain_invalid"
    CERT_NOT_YET_VALID = "cert_not_yet_valid"
    CERT_EXPIRED = "cert_expired"
    CSCA_EXPIRED = "csca_expired"
    DG1_MALFORMED = "dg1_malformed"
    DG1_MRZ_MISMATCH = "dg1_mrz_mismatch"


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: ChipCheck
    status: CheckStatus
    failure: ChipFailure | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChipVerification:
    """Outcome of `verify_chip`: one result per `ChipCheck`, in order, and the
    document DG1 describes (None when DG1 is unreadable)."""

    checks: tuple[CheckResult, ...]
    document: TravelDocument | None

    @property
    def failures(self) -> tuple[ChipFailure, ...]:
        return tuple(c.failure for c in self.checks if c.failure is not None)

    @property
    def passive_authentication_ok(self) -> bool:
        """Every passive-authentication step ran and passed (DG1 vs MRZ aside)."""
        return all(
            c.status is CheckStatus.PASSED for c in self.checks if c.check is not ChipCheck.DG1_MRZ
        )

    @property
    def ok(self) -> bool:
        """Passive authentication passed and DG1 did not contradict the printed MRZ."""
        return self.passive_authentication_ok and not self.failures

    def result(self, check: ChipCheck) -> CheckResult:
        return next(c for c in self.checks if c.check is check)


def _passed(check: ChipCheck, detail: str = "") -> CheckResult:
    return CheckResult(check, CheckStatus.PASSED, None, detail)


def _failed(check: ChipCheck, failure: ChipFailure, detail: str) -> CheckResult:
    return CheckResult(check, CheckStatus.FAILED, failure, detail)


def _skipped(check: ChipCheck, detail: str) -> CheckResult:
    return CheckResult(check, CheckStatus.SKIPPED, None, detail)


def _check_hashes(sod: SecurityObject, groups: Mapping[int, bytes]) -> CheckResult:
    check = ChipCheck.DATA_GROUP_HASHES
    try:
        wrong = [
            n
            for n, data in groups.items()
            if n in sod.data_group_hashes
            and digest(sod.hash_algorithm, data) != sod.data_group_hashes[n]
        ]
    except UnsupportedAlgorithm as e:
        return _failed(check, ChipFailure.UNSUPPORTED_ALGORITHM, str(e))
    missing = [n for n in groups if n not in sod.data_group_hashes]
    if wrong:
        return _failed(
            check,
            ChipFailure.DG_HASH_MISMATCH,
            f"hash differs for DG{', DG'.join(map(str, wrong))}",
        )
    if missing:
        return _failed(
            check,
            ChipFailure.DG_HASH_MISSING,
            f"SOD has no hash of DG{', DG'.join(map(str, missing))}",
        )
    return _passed(check, f"{sod.hash_algorithm} of DG{', DG'.join(map(str, sorted(groups)))}")


def _check_signed_attributes(signed: SignedContent) -> CheckResult:
    check = ChipCheck.SIGNED_ATTRIBUTES
    if signed.content_type != LDS_SECURITY_OBJECT_OID:
        return _failed(
            check, ChipFailure.CONTENT_TYPE_MISMATCH, f"contentType {signed.content_type}"
        )
    try:
        expected = digest(signed.digest_algorithm, signed.content)
    except UnsupportedAlgorithm as e:
        return _failed(check, ChipFailure.UNSUPPORTED_ALGORITHM, str(e))
    if signed.message_digest != expected:
        return _failed(
            check,
            ChipFailure.MESSAGE_DIGEST_MISMATCH,
            "messageDigest is not the hash of the LDSSecurityObject",
        )
    return _passed(check)


def _check_signature(signed: SignedContent) -> CheckResult:
    check = ChipCheck.SOD_SIGNATURE
    if signed.signer_certificate is None:
        return _failed(
            check, ChipFailure.DS_CERT_MISSING, "the SOD carries no certificate for its signer"
        )
    try:
        valid = signature_valid(
            signed.signer_certificate,
            signed.signature_algorithm,
            signed.signature,
            signed.signed_attributes,
        )
    except UnsupportedAlgorithm as e:
        return _failed(check, ChipFailure.UNSUPPORTED_ALGORITHM, str(e))
    if not valid:
        return _failed(
            check,
            ChipFailure.SIGNATURE_INVALID,
            f"{signed.signature_algorithm.scheme.value} signature does not verify",
        )
    return _passed(check, signed.signature_algorithm.scheme.value)


def _check_chain(
    sod: SecurityObject, store: CscaStore
) -> tuple[CheckResult, x509.Certificate | None]:
    check = ChipCheck.CERTIFICATE_CHAIN
    ds = sod.signed.signer_certificate
    if ds is None:
        return _skipped(check, "no Document Signer certificate"), None
    issuer = ds.issuer.rfc4514_string()
    if not store.candidates(ds):
        return _failed(check, ChipFailure.UNKNOWN_CSCA, f"no trusted CSCA named {issuer}"), None
    csca = store.issuer_of(ds)
    if csca is None:
        return _failed(
            check,
            ChipFailure.CERT_CHAIN_INVALID,
            f"no CSCA named {issuer} signed the DS certificate",
        ), None
    return _passed(check, issuer), csca


def _check_validity(
    sod: SecurityObject, csca: x509.Certificate | None, at: datetime
) -> CheckResult:
    check = ChipCheck.CERTIFICATE_VALIDITY
    ds = sod.signed.signer_certificate
    if ds is None:
        return _skipped(check, "no Document Signer certificate")
    if at < ds.not_valid_before_utc:
        return _failed(
            check,
            ChipFailure.CERT_NOT_YET_VALID,
            f"DS certificate valid from {ds.not_valid_before_utc}",
        )
    if at > ds.not_valid_after_utc:
        return _failed(
            check, ChipFailure.CERT_EXPIRED, f"DS certificate expired {ds.not_valid_after_utc}"
        )
    if csca is None:
        return _skipped(check, "DS certificate in its validity; no trusted CSCA to check")
    if not csca.not_valid_before_utc <= at <= csca.not_valid_after_utc:
        return _failed(
            check,
            ChipFailure.CSCA_EXPIRED,
            f"CSCA valid {csca.not_valid_before_utc} to {csca.not_valid_after_utc}",
        )
    return _passed(check)


def _check_dg1(
    dg1: bytes, printed: TravelDocument | None, today: date
) -> tuple[CheckResult, TravelDocument | None]:
    check = ChipCheck.DG1_MRZ
    try:
        document = read_dg1(dg1, today=today)
    except (ChipFormatError, MrzError) as e:
        return _failed(check, ChipFailure.DG1_MALFORMED, str(e)), None
    if printed is None:
        return _skipped(check, "no printed MRZ to compare"), document
    differing = [
        f.name
        for f in dataclasses.fields(document)
        if getattr(document, f.name) != getattr(printed, f.name)
    ]
    if differing:
        return _failed(
            check,
            ChipFailure.DG1_MRZ_MISMATCH,
            f"DG1 differs from the printed MRZ in {', '.join(differing)}",
        ), document
    return _passed(check), document


_AFTER_SOD = (
    ChipCheck.DATA_GROUP_HASHES,
    ChipCheck.SIGNED_ATTRIBUTES,
    ChipCheck.SOD_SIGNATURE,
    ChipCheck.CERTIFICATE_CHAIN,
    ChipCheck.CERTIFICATE_VALIDITY,
)


def verify_chip(
    chip: ChipData,
    printed: TravelDocument | None,
    csca: CscaStore,
    *,
    at: datetime | None = None,
) -> ChipVerification:
    """Passive authentication of `chip` (Doc 9303 part 11, 5.1) and DG1 against the
    printed MRZ: the SOD parses; the hash of every data group read matches the SOD;
    the signed attributes bind the LDSSecurityObject (messageDigest); the Document
    Signer's signature verifies; a CSCA in `csca` signed the DS certificate; both
    certificates are valid at `at` (aware datetime, default now, UTC); DG1 equals
    `printed` (skipped when None). Never raises on bad chip content."""
    at = at or datetime.now(UTC)
    if at.tzinfo is None:  # a caller's bug, not bad chip content: refuse to guess the zone
        raise ValueError(f"verify_chip needs an aware datetime, got {at!r}")
    results = []
    try:
        sod = parse_sod(chip.sod)
    except (SodError, UnsupportedAlgorithm) as e:
        failure = (
            ChipFailure.UNSUPPORTED_ALGORITHM
            if isinstance(e, UnsupportedAlgorithm)
            else ChipFailure.SOD_MALFORMED
        )
        results.append(_failed(ChipCheck.SOD_STRUCTURE, failure, str(e)))
        results += [_skipped(c, "SOD unreadable") for c in _AFTER_SOD]
    else:
        results.append(
            _passed(ChipCheck.SOD_STRUCTURE, f"LDS {sod.lds_version or 'v0 (no version info)'}")
        )
        results += [
            _check_hashes(sod, chip.data_groups),
            _check_signed_attributes(sod.signed),
            _check_signature(sod.signed),
        ]
        chain, issuer = _check_chain(sod, csca)
        results += [chain, _check_validity(sod, issuer, at)]
    dg1, document = _check_dg1(chip.dg1, printed, at.date())
    results.append(dg1)
    return ChipVerification(tuple(results), document)
