"""Gate keys and operator tokens: every failure is a 401 or a 403, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import ADMIN_TOKEN, TestClient, operator, register_gate

from api.app import create_app
from api.settings import Settings


def test_no_credentials_is_401(client: TestClient) -> None:
    r = client.get("/v1/policy")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert "X-Gate-Key" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Gate-Key": "not-a-key"},
        {"X-Gate-Key": "x" * 5000},
        {"X-Gate-Key": ""},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Bearer caf\xc3\xa9".encode("latin-1")},  # type: ignore[dict-item]
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
def test_unknown_or_malformed_credentials_are_401(
    client: TestClient, headers: dict[str, str]
) -> None:
    r = client.get("/v1/policy", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"


def test_gate_cannot_use_operator_endpoints(client: TestClient, gate: dict[str, str]) -> None:
    r = client.post("/v1/watchlists/documents", json={"entries": []}, headers=gate)
    assert r.status_code == 403
    assert r.json()["error"] == {
        "code": "forbidden",
        "message": "this endpoint is for operators with role watchlist",
        "detail": None,
    }


def test_operator_cannot_act_as_gate(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/transactions", json={"mrz": "x"}, headers=admin)
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "this endpoint is for gates (X-Gate-Key)"


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("enrol", ("GET", "/v1/enrolments/nobody", 404), ("GET", "/v1/audit/verify", 403)),
        (
            "watchlist",
            ("POST", "/v1/watchlists/documents", 200),
            ("GET", "/v1/enrolments/nobody", 403),
        ),
        ("audit", ("GET", "/v1/audit/verify", 200), ("POST", "/v1/watchlists/documents", 403)),
        ("audit", ("GET", "/v1/transactions", 200), ("PUT", "/v1/policy", 403)),
    ],
)
def test_roles(
    client: TestClient,
    admin: dict[str, str],
    role: str,
    allowed: tuple[str, str, int],
    refused: tuple[str, str, int],
) -> None:
    headers = operator(client, admin, [role])
    body = {"name": f"role-test-{role}", "entries": []}
    for method, path, status in (allowed, refused):
        r = client.request(method, path, headers=headers, json=body if method != "GET" else None)
        assert r.status_code == status, (path, r.text)
    r = client.request(
        refused[0], refused[1], headers=headers, json=body if refused[0] != "GET" else None
    )
    assert r.json()["error"]["detail"]["roles"] == [role]


def test_admin_holds_every_role(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/v1/audit/verify", headers=admin).status_code == 200
    assert client.get("/v1/enrolments/nobody", headers=admin).status_code == 404


def test_disabled_operator_token_stops_working(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/operators", json={"id": "leaver", "roles": ["audit"]}, headers=admin)
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/v1/audit/verify", headers=token).status_code == 200
    assert client.delete("/v1/operators/leaver", headers=admin).status_code == 204
    assert client.get("/v1/audit/verify", headers=token).status_code == 401


def test_only_admin_registers_gates(client: TestClient, admin: dict[str, str]) -> None:
    headers = operator(client, admin, ["enrol", "watchlist", "audit"])
    r = client.post("/v1/gates", json={"id": "sneaky"}, headers=headers)
    assert r.status_code == 403
    assert client.post("/v1/gates", json={"id": "dup-gate"}, headers=admin).status_code == 201
    r = client.post("/v1/gates", json={"id": "dup-gate"}, headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "already_exists"


def test_gate_sees_only_its_own_status(
    client: TestClient, admin: dict[str, str], gate: dict[str, str]
) -> None:
    me = client.post("/v1/gates/heartbeat", json={"camera_ok": False}, headers=gate).json()
    assert me["hardware"]["camera_ok"] is False
    assert me["last_heartbeat"] is not None
    assert client.get(f"/v1/gates/{me['id']}", headers=gate).json()["id"] == me["id"]
    assert client.get("/v1/gates/some-other-gate", headers=gate).status_code == 403
    listed = {g["id"]: g for g in client.get("/v1/gates", headers=admin).json()}
    assert listed[me["id"]]["hardware"]["camera_ok"] is False
    assert (
        client.get("/v1/gates/no-such-gate", headers=admin).json()["error"]["code"]
        == "gate_not_found"
    )


def test_disabled_gate_key_is_refused(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        bootstrap_admin_token=ADMIN_TOKEN,
        policy_path=tmp_path / "p.json",
        gallery_path=tmp_path / "g",
        credential_cache_s=0,
    )
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings)) as c:
        gate = register_gate(c, admin, "retired")
        assert c.post("/v1/gates/heartbeat", json={}, headers=gate).status_code == 200
        assert c.delete("/v1/gates/retired", headers=admin).status_code == 204
        r = c.post("/v1/gates/heartbeat", json={}, headers=gate)
        assert c.delete("/v1/gates/nope", headers=admin).json()["error"]["code"] == "not_found"
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "unknown or disabled gate key"


def test_operator_cannot_disable_themself(client: TestClient, admin: dict[str, str]) -> None:
    r = client.delete("/v1/operators/admin", headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "cannot_disable_self"
