"""Helpers shared by the api tests (imported as `api_helpers`: tests/api is on sys.path)."""

from __future__ import annotations

import itertools
import warnings
from datetime import date

from egate.documents import DocumentType, Sex, TravelDocument
from egate.mrz import format_mrz

with warnings.catch_warnings():
    # starlette 1.x prefers the httpx2 fork; httpx (a declared dependency) still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ADMIN_TOKEN = "test-admin-token"
numbers = itertools.count(100000)


def register_gate(client: TestClient, admin: dict[str, str], gate_id: str) -> dict[str, str]:
    r = client.post("/v1/gates", json={"id": gate_id, "location": "T1 arrivals"}, headers=admin)
    assert r.status_code == 201, r.text
    return {"X-Gate-Key": r.json()["key"]}


def operator(client: TestClient, admin: dict[str, str], roles: list[str]) -> dict[str, str]:
    r = client.post(
        "/v1/operators", json={"id": f"op-{next(numbers)}", "roles": roles}, headers=admin
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def document(**changes: object) -> TravelDocument:
    fields: dict[str, object] = {
        "format": DocumentType.TD3,
        "code": "P",
        "issuer": "UTO",
        "number": f"L{next(numbers)}",
        "surname": "ERIKSSON",
        "given_names": "ANNA MARIA",
        "nationality": "UTO",
        "birth_date": date(1974, 8, 12),
        "sex": Sex.FEMALE,
        "expiry_date": date(2034, 4, 15),
    }
    fields.update(changes)
    return TravelDocument(**fields)  # type: ignore[arg-type]


def mrz(**changes: object) -> str:
    return format_mrz(document(**changes))
