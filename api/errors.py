"""The one place where errors become HTTP answers.

Every error body is `{"error": {"code": ..., "message": ..., "detail": ...}}`.
Domain errors (`EgateError`, `BiometricsError` subclasses) carry a machine-readable
`code`; this module only decides the HTTP status for it. Bad input is always a 4xx.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.inference import Overloaded
from biometrics import BiometricsError
from egate import EgateError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from biometrics.pipeline import Capture

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer decided by the adapter itself (authentication, limits, lookups)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers


# Status for domain error codes that are not plain "unprocessable input" (422).
_STATUS_BY_CODE: dict[str, int] = {
    "image_too_large": 413,
    "not_found": 404,
    "traveller_not_found": 404,
    "enrolment_not_found": 404,
    "transaction_not_found": 404,
    "gate_not_found": 404,
    "already_enrolled": 409,
    "already_exists": 409,
    "document_already_enrolled": 409,
    "transaction_already_decided": 409,
    "illegal_transition": 409,
    "duplicate": 409,
    "duplicate_id": 409,
    "unknown_id": 404,
    "conflict": 409,
    "invalid_state": 409,
    "transaction_closed": 409,
    "idempotency_conflict": 409,
    "too_many_captures": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "provider_unavailable": 503,
    "overloaded": 503,
}
# Server-side faults the client cannot fix by changing its input.
_SERVER_CODES = frozenset(
    {"provider_unavailable", "model_missing", "database_unavailable", "inexact_int8_product"}
)


def status_for(code: str) -> int:
    """HTTP status for a domain error code; unknown codes are bad input (422)."""
    if code in _SERVER_CODES and code not in _STATUS_BY_CODE:
        return 503
    return _STATUS_BY_CODE.get(code, 422)


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail)}}


def _domain_detail(exc: Exception) -> dict[str, Any]:
    """Public attributes of a domain error (the offending value, field names, ...)."""
    detail: dict[str, Any] = {}
    for name, value in vars(exc).items():
        if name.startswith("_") or name == "args":
            continue
        if isinstance(value, str | int | float | bool | type(None)):
            detail[name] = value
        elif isinstance(value, bytes):
            detail[name] = f"<{len(value)} bytes>"
        elif isinstance(value, tuple | list) and all(
            isinstance(v, str | int | float) for v in value
        ):
            detail[name] = list(value)
        else:
            detail[name] = str(value)
    return detail


def domain_error_response(exc: EgateError | BiometricsError) -> JSONResponse:
    code = str(getattr(exc, "code", "invalid_input"))
    return JSONResponse(
        error_body(code, str(exc) or code, _domain_detail(exc)), status_code=status_for(code)
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.detail),
        status_code=exc.status,
        headers=exc.headers,
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EgateError | BiometricsError)
    return domain_error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
        for e in exc.errors()
    ]
    return JSONResponse(
        error_body("invalid_request", "the request does not match the schema", errors),
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Overloaded)
    return JSONResponse(
        error_body(
            exc.code, str(exc), {"pending": exc.pending, "retry_after_s": exc.retry_after_s}
        ),
        status_code=503,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        error_body("database_unavailable", "the database is not reachable; retry later"),
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _bad_value(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the schema let through (a number out of its column's
    # range, a NUL in text): still the client's input, so a 422, never a 500.
    log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        error_body("invalid_value", "a value in the request is out of range or not storable"),
        status_code=422,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register every handler on `app`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(EgateError, _domain_error)
    app.add_exception_handler(BiometricsError, _domain_error)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(DataError, _bad_value)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown credentials (`unauthorized`)"},
    403: {"description": "credentials lack the role or do not own the resource (`forbidden`)"},
    413: {"description": "request or image too large (`request_too_large`, `image_too_large`)"},
    422: {"description": "bad input; `error.code` names the problem"},
    429: {"description": "rate limit for this gate exceeded (`rate_limited`), see Retry-After"},
    503: {"description": "inference pool full (`overloaded`), see Retry-After"},
}


def require_embedding(capture: Capture, what: str = "image") -> npt.NDArray[np.float32]:
    """The embedding of a capture that must show exactly one usable face, or a 422:
    `face_not_found`, `multiple_faces`, or `poor_quality` listing the issues."""
    if capture.embedding is not None:
        return capture.embedding
    issues = [i.value for i in capture.quality.issues]
    if "no_face" in issues:
        raise ApiError(422, "face_not_found", f"no face found in the {what}", {"issues": issues})
    if "multiple_faces" in issues:
        raise ApiError(
            422,
            "multiple_faces",
            f"{len(capture.faces)} faces in the {what}; exactly one is needed",
            {"faces": len(capture.faces), "issues": issues},
        )
    raise ApiError(
        422,
        "poor_quality",
        f"the face in the {what} is not usable: {'; '.join(capture.quality.messages)}",
        {"issues": issues},
    )
