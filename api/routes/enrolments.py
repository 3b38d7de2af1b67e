"""Enrolments (role enrol): a traveller's document and face templates, encrypted at rest."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import EnrolOperator
from api.deps import ResourcesDep
from api.errors import ApiError, require_embedding
from api.resources import utc_now
from api.schemas.common import Base64Image, Strict
from egate.enrolment import Enrolments
from egate.mrz import parse_mrz
from egate.store import Enrolment

router = APIRouter(prefix="/enrolments", tags=["enrolments"])


class EnrolmentCreate(Strict):
    mrz: Annotated[
        str, Field(min_length=1, max_length=200, description="printed MRZ of the document")
    ]
    photos: Annotated[list[Base64Image], Field(min_length=1, max_length=5)]


class DocumentPublic(BaseModel):
    issuer: str
    number: str
    document_code: str
    expiry_date: date


class EnrolmentPublic(BaseModel):
    traveller_id: str
    surname: str
    given_names: str
    birth_date: date
    nationality: str
    documents: list[DocumentPublic]
    templates: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: Enrolment) -> EnrolmentPublic:
        return cls(
            traveller_id=e.traveller_id,
            surname=e.traveller.surname,
            given_names=e.traveller.given_names,
            birth_date=e.traveller.birth_date,
            nationality=e.traveller.nationality,
            documents=[
                DocumentPublic(
                    issuer=d.issuer,
                    number=d.number,
                    document_code=d.document_code,
                    expiry_date=d.expiry_date,
                )
                for d in e.documents
            ],
            templates=len(e.templates),
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


@router.post("", status_code=201, response_model=EnrolmentPublic)
async def enrol(
    body: EnrolmentCreate, operator: EnrolOperator, resources: ResourcesDep
) -> EnrolmentPublic:
    """Enrol the holder of a document with one to five photographs (one face each)."""
    document = parse_mrz(body.mrz, today=utc_now().date())
    captures = await asyncio.gather(*(resources.reference(p) for p in body.photos))
    for i, capture in enumerate(captures, start=1):
        require_embedding(capture, f"photo {i}")  # the API's per-photo error codes

    def create() -> Enrolment:
        return Enrolments(resources.store).enrol(document, captures, actor=operator.id)

    return EnrolmentPublic.of(await run_in_threadpool(create))


@router.get("/{traveller_id}", response_model=EnrolmentPublic)
async def get_enrolment(
    traveller_id: str, operator: EnrolOperator, resources: ResourcesDep
) -> EnrolmentPublic:
    def get() -> Enrolment | None:
        with resources.store.read() as uow:
            return uow.enrolments.get(traveller_id)

    enrolment = await run_in_threadpool(get)
    if enrolment is None:
        raise ApiError(
            404,
            "enrolment_not_found",
            f"no enrolled traveller {traveller_id}",
            {"id": traveller_id},
        )
    return EnrolmentPublic.of(enrolment)


@router.delete("/{traveller_id}", status_code=204, response_class=Response)
async def erase_enrolment(
    traveller_id: str, operator: EnrolOperator, resources: ResourcesDep
) -> Response:
    """Erase the traveller, their documents and templates (the audit trail keeps no
    personal data)."""

    await run_in_threadpool(Enrolments(resources.store).erase, traveller_id, actor=operator.id)
    return Response(status_code=204)
