"""A gate's transactions end to end, with real photographs and the real pipeline."""

from __future__ import annotations

import base64
from datetime import date

from api_helpers import TestClient, mrz


def open_txn(client: TestClient, gate: dict[str, str], portrait: bytes, **doc: object) -> dict:  # type: ignore[type-arg]
    body = {"mrz": mrz(**doc), "portrait": base64.b64encode(portrait).decode()}
    r = client.post("/v1/transactions", json=body, headers=gate)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_same_person_is_accepted(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    txn = open_txn(client, gate, photo["obama"][0])
    assert txn["state"] == "capturing"
    r = client.post(
        f"/v1/transactions/{txn['id']}/captures",
        files={"image": ("live.jpg", photo["obama"][1], "image/jpeg")},
        headers=gate,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["capture"]["quality_issues"] == []
    assert body["capture"]["distance"] < 0.6
    assert body["transaction"]["state"] == "accepted"
    assert body["transaction"]["decision"] == "accept"
    got = client.get(f"/v1/transactions/{txn['id']}", headers=gate).json()
    assert got["decision"] == "accept"
    assert [s["step"] for s in got["steps"]] == [
        "document_read", "document_check", "screening", "eligibility", "capture",
    ]  # fmt: skip


def test_other_person_is_referred_after_max_attempts(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    txn = open_txn(client, gate, photo["obama"][0])
    for attempt in range(3):
        image = base64.b64encode(
            photo["biden"][0] if attempt % 2 else photo["rose_leslie"][attempt % 2]
        ).decode()
        r = client.post(
            f"/v1/transactions/{txn['id']}/captures", json={"image": image}, headers=gate
        )
        assert r.status_code == 200, r.text
        assert r.json()["capture"]["distance"] > 0.6
    final = r.json()["transaction"]
    assert final["decision"] == "refer"
    assert final["referral"]["reason"] == "no_match"
    r = client.post(f"/v1/transactions/{txn['id']}/captures", json={"image": image}, headers=gate)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "transaction_closed"


def test_expired_document_is_referred_without_capture(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    txn = open_txn(client, gate, photo["obama"][0], expiry_date=date(2020, 1, 1))
    assert txn["decision"] == "refer"
    assert txn["referral"]["reason"] == "document"
    assert txn["referral"]["findings"][0]["code"] == "document_expired"
