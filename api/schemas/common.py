"""Shared schema pieces: base64 image payloads and the error body."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field

Base64Image = Annotated[
    Base64Bytes,
    Field(description="JPEG, PNG or JPEG 2000 bytes, base64 encoded", min_length=1),
]


# Printable text: no control characters (PostgreSQL text cannot hold NUL, and no field
# of a document, a list or a name has a reason to carry the others).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
MULTILINE = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*$"  # newlines allowed (an MRZ)


def text(max_length: int, *, min_length: int = 0, description: str | None = None) -> Any:
    return Field(
        min_length=min_length, max_length=max_length, pattern=PRINTABLE, description=description
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    code: str = Field(description="machine-readable, e.g. face_not_found, mrz_check_digit")
    message: str
    detail: Any = None


class ErrorBody(BaseModel):
    error: ErrorInfo
