"""Watchlists (role watchlist): stolen/lost documents, watched persons and watched
faces, each loaded in bulk."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import WatchlistOperator
from api.deps import ResourcesDep
from api.errors import require_embedding
from api.schemas.common import Base64Image, Strict, text
from egate.store import DocumentWatchEntry, PersonWatchEntry
from egate.watchlist import SltdStatus

router = APIRouter(prefix="/watchlists", tags=["watchlists"])

ListName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class DocumentEntry(Strict):
    issuer: Annotated[str, text(3, min_length=1)]
    number: Annotated[str, text(20, min_length=1)]
    status: SltdStatus = SltdStatus.STOLEN


class DocumentsLoad(Strict):
    name: ListName = "sltd"
    entries: Annotated[list[DocumentEntry], Field(max_length=100_000)]


class PersonEntryIn(Strict):
    surname: Annotated[str, text(80, min_length=1)]
    given_names: Annotated[str, text(80)] = ""
    birth_date: date | None = None
    nationality: Annotated[str | None, text(3, min_length=3)] = None
    reason: Annotated[str, text(40)] = "wanted"


class PersonsLoad(Strict):
    name: ListName = "persons"
    entries: Annotated[list[PersonEntryIn], Field(max_length=100_000)]


class FaceEntry(Strict):
    id: Annotated[str, text(64, min_length=1)]
    image: Base64Image


class FacesLoad(Strict):
    entries: Annotated[list[FaceEntry], Field(min_length=1, max_length=50)]
    replace: bool = Field(default=False, description="overwrite entries whose id exists")


class Loaded(BaseModel):
    name: str
    entries: int


@router.post("/documents", response_model=Loaded)
async def load_documents(
    body: DocumentsLoad, operator: WatchlistOperator, resources: ResourcesDep
) -> Loaded:
    """Replace the stolen/lost document list `name` with `entries`."""
    entries = [DocumentWatchEntry(e.issuer, e.number, e.status.value) for e in body.entries]

    def load() -> int:
        with resources.store.unit_of_work() as uow:
            return uow.watchlists.load_documents(body.name, entries, actor=operator.id)

    count = await run_in_threadpool(load)
    resources.lists.invalidate()
    return Loaded(name=body.name, entries=count)


@router.post("/persons", response_model=Loaded)
async def load_persons(
    body: PersonsLoad, operator: WatchlistOperator, resources: ResourcesDep
) -> Loaded:
    """Replace the person watchlist `name` with `entries` (matched by fuzzy name + birth date)."""
    entries = [
        PersonWatchEntry(e.surname, e.given_names, e.birth_date, e.nationality, e.reason)
        for e in body.entries
    ]

    def load() -> int:
        with resources.store.unit_of_work() as uow:
            return uow.watchlists.load_persons(body.name, entries, actor=operator.id)

    count = await run_in_threadpool(load)
    resources.lists.invalidate()
    return Loaded(name=body.name, entries=count)


@router.post("/faces", response_model=Loaded)
async def load_faces(
    body: FacesLoad, operator: WatchlistOperator, resources: ResourcesDep
) -> Loaded:
    """Add watched faces (one face per image) to the face watchlist searched by /identify."""
    captures = await asyncio.gather(*(resources.reference(e.image) for e in body.entries))
    vectors = np.stack(
        [
            require_embedding(c, f"image of {e.id}")
            for c, e in zip(captures, body.entries, strict=True)
        ]
    )
    ids = [e.id for e in body.entries]
    await run_in_threadpool(
        resources.gallery.add, ids, vectors.astype(np.float32), replace=body.replace
    )
    return Loaded(name="faces", entries=len(resources.gallery))
