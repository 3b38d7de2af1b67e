"""PAXLST manifests (role watchlist): raw UN/EDIFACT in, the parsed summary stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import WatchlistOperator
from api.deps import ResourcesDep
from api.errors import ApiError
from egate.manifest import Manifest
from egate.paxlst import parse_paxlst
from egate.store import ManifestData, ManifestRecord

router = APIRouter(prefix="/manifests", tags=["manifests"])


class ManifestPublic(BaseModel):
    id: int
    received_at: datetime
    carrier: str
    flight: str
    departure_airport: str
    arrival_airport: str
    departure_local: str | None = None
    arrival_local: str | None = None
    travellers: int
    warnings: list[str]

    @classmethod
    def of(cls, record: ManifestRecord) -> ManifestPublic:
        d = record.data
        return cls(
            id=record.id,
            received_at=record.received_at,
            carrier=d.carrier,
            flight=d.flight,
            departure_airport=d.departure_airport,
            arrival_airport=d.arrival_airport,
            departure_local=d.summary.get("departure_local"),
            arrival_local=d.summary.get("arrival_local"),
            travellers=d.traveller_count,
            warnings=list(d.summary.get("warnings", [])),
        )


_EDIFACT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/edifact": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.post("", status_code=201, response_model=ManifestPublic, openapi_extra=_EDIFACT_BODY)
async def upload_manifest(
    request: Request, operator: WatchlistOperator, resources: ResourcesDep
) -> ManifestPublic:
    """Upload one PAXLST interchange (all parts of a multi-part manifest in one body)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # UNOC interchanges are ISO 8859-1
    if not text.strip():
        raise ApiError(422, "paxlst_malformed", "empty body: send the EDIFACT interchange")
    manifest = parse_paxlst(text)
    data = _data(manifest, text)

    def save() -> ManifestRecord:
        with resources.store.unit_of_work() as uow:
            return uow.manifests.save(data, actor=operator.id)

    return ManifestPublic.of(await run_in_threadpool(save))


@router.get("/{manifest_id}", response_model=ManifestPublic)
async def get_manifest(
    manifest_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    operator: WatchlistOperator,
    resources: ResourcesDep,
) -> ManifestPublic:
    def get() -> ManifestRecord:
        with resources.store.read() as uow:
            return uow.manifests.get(manifest_id)

    return ManifestPublic.of(await run_in_threadpool(get))


def _data(manifest: Manifest, raw: str) -> ManifestData:
    summary = {
        "kind": manifest.kind.value,
        "roles": sorted({t.role.value for t in manifest.travellers}),
        "warnings": [f"segment {w.segment} ({w.tag}): {w.reason}" for w in manifest.warnings],
        # DTM 189/232 are local times at each airport, with no zone: kept as sent.
        "departure_local": manifest.departure_time.isoformat(),
        "arrival_local": manifest.arrival_time.isoformat(),
    }
    return ManifestData(
        carrier=manifest.carrier,
        flight=manifest.flight,
        departure_airport=manifest.departure_airport,
        arrival_airport=manifest.arrival_airport,
        departure_time=None,
        arrival_time=None,
        traveller_count=len(manifest.travellers),
        raw_edifact=raw,
        summary=summary,
    )
