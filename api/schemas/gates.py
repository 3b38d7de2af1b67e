"""Gates: registration, heartbeat, status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import Strict, text

GateId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class GateCreate(Strict):
    id: GateId
    location: Annotated[str, text(200)] = ""


class GateCreated(BaseModel):
    id: str
    location: str
    key: str = Field(description="the gate's API key; shown only in this answer")


class Heartbeat(Strict):
    """What the gate reports about its hardware (all optional)."""

    door_ok: bool = True
    reader_ok: bool = True
    camera_ok: bool = True
    software_version: Annotated[str, text(64)] = ""


class GateStatus(BaseModel):
    id: str
    location: str
    created_at: datetime
    disabled: bool
    last_heartbeat: datetime | None
    hardware: Heartbeat | None
