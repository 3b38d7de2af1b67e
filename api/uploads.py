"""Reading images out of a request: `multipart/form-data` (a file field) or JSON
(base64 in a field). Both are documented in the OpenAPI schema with `image_body`."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from api.errors import ApiError


def image_body(fields: dict[str, str], model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route taking images as multipart files or as base64 JSON;
    `fields` maps a field name to its description."""
    properties = {
        name: {"type": "string", "format": "binary", "description": d} for name, d in fields.items()
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": list(fields)[:1],
                    }
                },
                "application/json": {"schema": model.model_json_schema()},
            },
        }
    }


async def read_images(
    request: Request, model: type[BaseModel], names: tuple[str, ...]
) -> BaseModel:
    """Parse the body into `model` whose fields `names` hold image bytes (base64 in JSON,
    files in multipart); other fields come as form fields or JSON values."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        values: dict[str, Any] = {}
        try:
            async with request.form(max_files=len(names), max_fields=16) as form:
                for key, value in form.multi_items():
                    values[key] = await value.read() if isinstance(value, UploadFile) else value
        except ApiError:
            raise
        except Exception as exc:  # malformed multipart is the client's fault
            raise ApiError(400, "invalid_multipart", f"cannot read multipart body: {exc}") from exc
        # A file's bytes are already what an image field holds: validate the model with a
        # one-byte stand-in and put the bytes in afterwards, instead of base64-encoding
        # them for pydantic to decode again (two passes over every image: the decode alone
        # was 6% of the event loop's Python time at N=16, py-spy --gil). An empty file
        # still fails as an empty image does.
        files = {k: v for k, v in values.items() if k in names and isinstance(v, bytes) and v}
        try:
            validated = model.model_validate({**values, **dict.fromkeys(files, _STAND_IN)})
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return validated.model_copy(update=files)
    if content_type.startswith("application/json"):
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid(exc) from exc
    raise ApiError(
        415,
        "unsupported_media_type",
        "send multipart/form-data or application/json",
        {"content_type": content_type},
    )


_STAND_IN = "AA=="  # base64 of one byte


def _invalid(exc: ValidationError) -> ApiError:
    errors = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in exc.errors()]
    return ApiError(422, "invalid_request", "the request does not match the schema", errors)
