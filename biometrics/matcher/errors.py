"""Errors raised by the matcher; each carries the offending value and a machine-readable `code`."""

from __future__ import annotations

from pathlib import Path

from biometrics import BiometricsError


class MatcherError(BiometricsError):
    """Root of the matcher's errors."""

    code = "matcher_error"


class DimensionMismatch(MatcherError):
    """An array has the wrong shape (e.g. 127 columns where the gallery holds 128-d templates)."""

    code = "dimension_mismatch"

    def __init__(self, what: str, expected: str, shape: tuple[int, ...]) -> None:
        super().__init__(f"{what}: expected shape {expected}, got {shape}")
        self.what = what
        self.expected = expected
        self.shape = shape


class NonFiniteValue(MatcherError):
    """A query or template holds NaN or +/-inf."""

    code = "non_finite_value"

    def __init__(self, what: str, row: int, value: float) -> None:
        super().__init__(f"{what}: row {row} holds a non-finite value {value}")
        self.what = what
        self.row = row
        self.value = value


class ValueOutOfRange(MatcherError):
    """A query or template holds a finite value too large to be a face descriptor (a dlib
    descriptor's elements lie within +/-1); scores of such vectors would overflow float32."""

    code = "value_out_of_range"

    def __init__(self, what: str, row: int, value: float, limit: float) -> None:
        super().__init__(
            f"{what}: row {row} holds {value:g}, beyond the descriptor range +/-{limit:g}"
        )
        self.what = what
        self.row = row
        self.value = value
        self.limit = limit


class InvalidId(MatcherError):
    """A template id is not a non-empty str that fits the gallery's fixed-width id field."""

    code = "invalid_id"

    def __init__(self, template_id: object, reason: str) -> None:
        super().__init__(f"invalid template id {template_id!r}: {reason}")
        self.template_id = template_id
        self.reason = reason


class UnknownId(MatcherError):
    """The id is not in the gallery."""

    code = "unknown_id"

    def __init__(self, template_id: str) -> None:
        super().__init__(f"unknown template id {template_id!r}")
        self.template_id = template_id


class DuplicateId(MatcherError):
    """The id is already in the gallery, or repeated within one call."""

    code = "duplicate_id"

    def __init__(self, template_id: str) -> None:
        super().__init__(f"duplicate template id {template_id!r}")
        self.template_id = template_id


class EmptyGallery(MatcherError):
    """A search was asked of a gallery holding no template."""

    code = "empty_gallery"

    def __init__(self, path: Path) -> None:
        super().__init__(f"gallery {path} holds no template")
        self.path = path


class InvalidArgument(MatcherError):
    """k, a threshold or a size is out of its range."""

    code = "invalid_argument"

    def __init__(self, name: str, value: object, rule: str) -> None:
        super().__init__(f"{name}={value!r}: {rule}")
        self.name = name
        self.value = value
        self.rule = rule


class GalleryFileError(MatcherError):
    """The gallery directory is missing, already exists, or does not hold a valid gallery."""

    code = "gallery_file"

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"gallery {path}: {problem}")
        self.path = path
        self.problem = problem


class InexactProduct(MatcherError):
    """ONNX Runtime's int8 product is wrong on this CPU even for the narrow query codes, so
    the CPU scan cannot bound its error (see kernel.host_query_range)."""

    code = "inexact_int8_product"

    def __init__(self, onnxruntime_version: str) -> None:
        super().__init__(
            f"onnxruntime {onnxruntime_version} multiplies int8 codes inexactly on this CPU, "
            "even 7-bit query codes: the CPU search cannot be exact here"
        )
        self.onnxruntime_version = onnxruntime_version


class MemoryLockRefused(MatcherError):
    """The kernel refused to lock a gallery's mapped files in RAM (mlock): the process's
    RLIMIT_MEMLOCK is below what the gallery maps and it lacks CAP_IPC_LOCK, or RAM is short."""

    code = "memory_lock_refused"

    def __init__(self, path: Path, requested: int, limit: int | None, reason: str) -> None:
        shown = "unlimited" if limit is None else f"{limit:,} bytes"
        super().__init__(
            f"gallery {path}: could not lock {requested:,} bytes in RAM ({reason}); "
            f"RLIMIT_MEMLOCK is {shown}: raise it (ulimit -l, LimitMEMLOCK= in a systemd "
            "unit) or grant CAP_IPC_LOCK"
        )
        self.path = path
        self.requested = requested
        self.limit = limit
        self.reason = reason
