"""Verification as a service: 1:1 verify (two images, or an image and an enrolled
traveller) and 1:N identify (an image against the face watchlist)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import AnyPrincipal
from api.deps import ResourcesDep
from api.errors import ApiError, require_embedding
from api.schemas.common import Base64Image, Strict, text
from api.uploads import image_body, read_images
from biometrics.matcher import verify as matcher_verify
from egate.store import Enrolment

router = APIRouter(tags=["verification"])


class VerifyRequest(Strict):
    probe: Base64Image
    reference: Base64Image | None = None
    traveller_id: Annotated[str | None, text(64)] = None


class VerifyResult(BaseModel):
    match: bool
    distance: float = Field(description="dlib Euclidean distance; lower is more alike")
    threshold: float


class IdentifyRequest(Strict):
    image: Base64Image
    k: Annotated[int, Field(ge=1, le=50)] = 5


class HitPublic(BaseModel):
    id: str
    distance: float


class IdentifyResult(BaseModel):
    hits: list[HitPublic]
    threshold: float
    gallery_size: int


@router.post(
    "/verify",
    response_model=VerifyResult,
    openapi_extra=image_body(
        {"probe": "the face to check", "reference": "the face to compare with"}, VerifyRequest
    ),
)
async def verify(
    request: Request, principal: AnyPrincipal, resources: ResourcesDep
) -> VerifyResult:
    """1:1: is the probe the same person as the reference image, or as the enrolled
    traveller `traveller_id` (nearest of their templates)? Exactly one of the two."""
    body = await read_images(request, VerifyRequest, ("probe", "reference"))
    assert isinstance(body, VerifyRequest)
    if (body.reference is None) == (body.traveller_id is None):
        raise ApiError(422, "invalid_request", "give exactly one of `reference` and `traveller_id`")
    probe_capture = await resources.reference(body.probe)
    probe = require_embedding(probe_capture, "probe")
    if body.reference is not None:
        templates = require_embedding(await resources.reference(body.reference), "reference")[None]
    else:
        enrolment = await run_in_threadpool(_enrolment, resources, body.traveller_id or "")
        templates = np.stack([t.vector for t in enrolment.templates]).astype(np.float32)
    threshold = resources.policy.current().match_threshold
    result = matcher_verify(np.repeat(probe[None], len(templates), axis=0), templates, threshold)
    best = int(np.argmin(result.distances))
    return VerifyResult(
        match=bool(result.matches[best]),
        distance=float(result.distances[best]),
        threshold=threshold,
    )


def _enrolment(resources: ResourcesDep, traveller_id: str) -> Enrolment:
    with resources.store.read() as uow:
        enrolment = uow.enrolments.get(traveller_id)
    if enrolment is None or not enrolment.templates:
        raise ApiError(
            404,
            "enrolment_not_found",
            f"no enrolled traveller {traveller_id}",
            {"id": traveller_id},
        )
    return enrolment


@router.post(
    "/identify",
    response_model=IdentifyResult,
    openapi_extra=image_body({"image": "the face to search for"}, IdentifyRequest),
)
async def identify(
    request: Request, principal: AnyPrincipal, resources: ResourcesDep
) -> IdentifyResult:
    """1:N: the face watchlist entries within the policy threshold, nearest first."""
    body = await read_images(request, IdentifyRequest, ("image",))
    assert isinstance(body, IdentifyRequest)
    embedding = require_embedding(await resources.reference(body.image))
    threshold = resources.policy.current().match_threshold
    hits = await run_in_threadpool(
        resources.gallery.search, embedding[None].astype(np.float32), threshold=threshold, k=body.k
    )
    return IdentifyResult(
        hits=[HitPublic(id=h.id, distance=h.distance) for h in hits[0]],
        threshold=threshold,
        gallery_size=len(resources.gallery),
    )
