"""Shared schema pieces: base64 image payloads and the error body."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field

Base64Image = Annotated[
    Base64Bytes,
    Field(description="JPEG, PNG or JPEG 2000 bytes, base64 encoded", min_length=1),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    code: str = Field(description="machine-readable, e.g. face_not_found, mrz_check_digit")
    message: str
    detail: Any = None


class ErrorBody(BaseModel):
    error: ErrorInfo
