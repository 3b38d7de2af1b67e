"""A gate's transactions end to end, with real photographs and the real pipeline."""

from __future__ import annotations

import base64
import time
from datetime import date
from pathlib import Path

from api_helpers import TestClient, mrz, operator, register_gate


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


def test_retry_with_the_same_idempotency_key_returns_the_first_answer(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    body = {"mrz": mrz(), "portrait": base64.b64encode(photo["rose_leslie"][0]).decode()}
    headers = {**gate, "Idempotency-Key": "open-1"}
    first = client.post("/v1/transactions", json=body, headers=headers)
    again = client.post("/v1/transactions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    txn_id = first.json()["id"]
    gate_id = first.json()["gate_id"]
    listed = client.get("/v1/transactions", params={"gate_id": gate_id}, headers=admin).json()
    assert [t["id"] for t in listed] == [txn_id]  # recorded once

    capture = {**gate, "Idempotency-Key": "cap-1"}
    files = {"image": ("live.jpg", photo["rose_leslie"][1], "image/jpeg")}
    c1 = client.post(f"/v1/transactions/{txn_id}/captures", files=files, headers=capture)
    c2 = client.post(f"/v1/transactions/{txn_id}/captures", files=files, headers=capture)
    assert c1.json() == c2.json()
    assert c2.json()["transaction"]["attempts"] == 1  # the retry did not count twice
    audit = client.get("/v1/audit/export", headers=admin).text
    assert audit.count(f'"subject": "{txn_id}"') == 1  # one DECISION record


def test_same_key_for_a_different_request_is_a_conflict(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    portrait = base64.b64encode(photo["obama"][0]).decode()
    headers = {**gate, "Idempotency-Key": "reused"}
    assert (
        client.post(
            "/v1/transactions", json={"mrz": mrz(), "portrait": portrait}, headers=headers
        ).status_code
        == 201
    )
    r = client.post("/v1/transactions", json={"mrz": mrz(), "portrait": portrait}, headers=headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "idempotency_conflict"
    r = client.post(
        "/v1/transactions", json={"mrz": mrz()}, headers={**gate, "Idempotency-Key": "\x01"}
    )
    assert r.json()["error"]["code"] in {"invalid_idempotency_key", "invalid_request"}


def test_bad_check_digit_is_422_naming_the_field(client: TestClient, gate: dict[str, str]) -> None:
    lines = mrz().split("\n")
    broken = lines[1][:9] + str((int(lines[1][9]) + 1) % 10) + lines[1][10:]
    r = client.post("/v1/transactions", json={"mrz": lines[0] + "\n" + broken}, headers=gate)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "mrz_check_digit"
    assert error["detail"]["field"] == "document_number"
    r = client.post("/v1/transactions", json={"mrz": "P<UTO"}, headers=gate)
    assert r.json()["error"]["code"] == "mrz_format"


def test_poor_captures_count_as_attempts_and_say_why(
    client: TestClient,
    gate: dict[str, str],
    photo: dict[str, list[bytes]],
    photo_path: dict[str, Path],
) -> None:
    txn = open_txn(client, gate, photo["obama"][0])
    url = f"/v1/transactions/{txn['id']}/captures"
    group = photo_path["two_people.jpg"].read_bytes()
    r = client.post(url, files={"image": ("g.jpg", group, "image/jpeg")}, headers=gate)
    assert r.status_code == 200
    assert any(
        "one person" in m.lower() or "face" in m.lower()
        for m in r.json()["capture"]["quality_issues"]
    )
    assert r.json()["capture"]["distance"] is None
    assert r.json()["transaction"]["attempts"] == 1
    r = client.post(url, files={"image": ("x.jpg", b"not an image", "image/jpeg")}, headers=gate)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_image"
    r = client.post(url, json={"image": "!!! not base64"}, headers=gate)
    assert r.json()["error"]["code"] == "invalid_request"
    r = client.post(url, files={"image": ("e.jpg", b"", "image/jpeg")}, headers=gate)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["detail"][0]["loc"] == ["image"]
    r = client.post(url, content=b"raw", headers={**gate, "Content-Type": "image/jpeg"})
    assert r.status_code == 415


def test_abandon_and_close(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    txn = open_txn(client, gate, photo["obama"][0])
    r = client.post(f"/v1/transactions/{txn['id']}/close", headers=gate)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "transaction_open"
    r = client.post(f"/v1/transactions/{txn['id']}/abandon", headers=gate)
    assert r.json()["state"] == "abandoned"
    assert r.json()["referral"]["reason"] == "abandoned"
    assert (
        client.post(f"/v1/transactions/{txn['id']}/abandon", headers=gate).json()["state"]
        == "abandoned"
    )
    assert client.post(f"/v1/transactions/{txn['id']}/close", headers=gate).status_code == 200


def test_a_gate_cannot_see_another_gates_transaction(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    txn = open_txn(client, gate, photo["obama"][0])
    other = register_gate(client, admin, f"other-{txn['id'][:8]}")
    assert client.get(f"/v1/transactions/{txn['id']}", headers=other).status_code == 403
    r = client.post(f"/v1/transactions/{txn['id']}/abandon", headers=other)
    assert r.status_code == 403
    assert (
        client.get("/v1/transactions/nope", headers=gate).json()["error"]["code"]
        == "transaction_not_found"
    )
    assert client.get("/v1/transactions", headers=gate).status_code == 403
    assert client.get(f"/v1/transactions/{txn['id']}", headers=admin).status_code == 200
    enroller = operator(client, admin, ["enrol"])
    r = client.get(f"/v1/transactions/{txn['id']}", headers=enroller)
    assert r.status_code == 403
    assert r.json()["error"]["message"].endswith("lacks role audit")


def test_capture_limit_per_transaction(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    policy = client.get("/v1/policy", headers=admin).json()
    client.put("/v1/policy", json={**policy, "max_attempts": 9}, headers=admin)
    try:
        txn = open_txn(client, gate, photo["obama"][0])
        image = base64.b64encode(photo["biden"][0]).decode()
        url = f"/v1/transactions/{txn['id']}/captures"
        codes = [
            client.post(url, json={"image": image}, headers=gate).status_code for _ in range(6)
        ]
    finally:
        client.put("/v1/policy", json=policy, headers=admin)
    assert codes == [200, 200, 200, 200, 200, 409]


def test_transaction_past_its_deadline_times_out(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    policy = client.get("/v1/policy", headers=admin).json()
    client.put("/v1/policy", json={**policy, "transaction_timeout_s": 0.2}, headers=admin)
    try:
        txn = open_txn(client, gate, photo["obama"][0])
        time.sleep(0.4)
        got = client.get(f"/v1/transactions/{txn['id']}", headers=gate).json()
    finally:
        client.put("/v1/policy", json=policy, headers=admin)
    assert got["state"] == "timed_out"
    assert got["referral"]["reason"] == "timeout"


def test_chip_dg2_that_is_not_a_dg2_is_referred(client: TestClient, gate: dict[str, str]) -> None:
    junk = base64.b64encode(b"\x75\x03abc").decode()
    r = client.post("/v1/transactions", json={"mrz": mrz(), "dg2": junk}, headers=gate)
    assert r.status_code == 201
    assert r.json()["referral"]["reason"] == "document"
    assert r.json()["referral"]["findings"][0]["code"] == "chip_portrait_unusable"


def test_search_filters(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    txn = open_txn(client, gate, photo["obama"][0], expiry_date=date(2021, 5, 5))
    rows = client.get(
        "/v1/transactions", params={"gate_id": txn["gate_id"], "decision": "refer"}, headers=admin
    ).json()
    assert [t["id"] for t in rows] == [txn["id"]]
    rows = client.get(
        "/v1/transactions", params={"gate_id": txn["gate_id"], "decision": "accept"}, headers=admin
    ).json()
    assert rows == []
    r = client.get("/v1/transactions", params={"limit": 0}, headers=admin)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
