"""Verification as a service and the operators' endpoints, with real photographs."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from api_helpers import ADMIN_TOKEN, TestClient, document, mrz, operator, register_gate

from api.app import create_app
from api.settings import Settings
from egate.manifest import Manifest, ManifestTraveller
from egate.paxlst import write_paxlst


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height pixels, with (almost) no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    )  # fmt: skip


def test_verify_two_images(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    same = client.post(
        "/v1/verify",
        files={
            "probe": ("a.jpg", photo["alex_lacamoire"][0]),
            "reference": ("b.jpg", photo["alex_lacamoire"][1]),
        },
        headers=gate,
    )
    assert same.status_code == 200, same.text
    assert same.json()["match"] is True
    assert same.json()["distance"] < 0.6 == same.json()["threshold"]
    as_json = client.post(
        "/v1/verify",
        json={
            "probe": b64(photo["alex_lacamoire"][0]),
            "reference": b64(photo["alex_lacamoire"][1]),
        },
        headers=gate,
    )
    assert as_json.json()["distance"] == same.json()["distance"]  # the same bytes either way
    other = client.post(
        "/v1/verify",
        json={"probe": b64(photo["obama"][0]), "reference": b64(photo["biden"][0])},
        headers=gate,
    )
    assert other.json()["match"] is False
    assert other.json()["distance"] > 0.6


def test_verify_error_codes(
    client: TestClient,
    gate: dict[str, str],
    photo: dict[str, list[bytes]],
    photo_path: dict[str, Path],
) -> None:
    good = b64(photo["obama"][0])
    cases = {
        "face_not_found": photo_path["obama-240p.jpg"].read_bytes(),
        "multiple_faces": photo_path["two_people.jpg"].read_bytes(),
        "invalid_image": b"GIF89a this is not a face",
        "image_too_large": huge_png(50_000, 50_000),
    }
    for code, probe in cases.items():
        r = client.post("/v1/verify", json={"probe": b64(probe), "reference": good}, headers=gate)
        assert r.json()["error"]["code"] in {code, "unsupported_image_format"}, (code, r.text)
        assert r.status_code == (413 if code == "image_too_large" else 422)
    r = client.post("/v1/verify", json={"probe": good}, headers=gate)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "give exactly one of `reference` and `traveller_id`"


def test_enrol_then_verify_against_the_enrolment_then_erase(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    enroller = operator(client, admin, ["enrol"])
    body = {"mrz": mrz(surname="MIRANDA"), "photos": [b64(photo["lin_manuel_miranda"][0])]}
    r = client.post("/v1/enrolments", json=body, headers=enroller)
    assert r.status_code == 201, r.text
    enrolled = r.json()
    assert enrolled["surname"] == "MIRANDA"
    assert enrolled["templates"] == 1
    tid = enrolled["traveller_id"]
    assert client.get(f"/v1/enrolments/{tid}", headers=enroller).json() == enrolled
    r = client.post("/v1/enrolments", json=body, headers=enroller)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "document_already_enrolled"

    r = client.post(
        "/v1/verify",
        json={"probe": b64(photo["lin_manuel_miranda"][0]), "traveller_id": tid},
        headers=gate,
    )
    assert r.json()["match"] is True
    r = client.post(
        "/v1/verify",
        json={"probe": b64(photo["rose_leslie"][0]), "traveller_id": tid},
        headers=gate,
    )
    assert r.json()["match"] is False

    assert client.delete(f"/v1/enrolments/{tid}", headers=enroller).status_code == 204
    assert (
        client.get(f"/v1/enrolments/{tid}", headers=enroller).json()["error"]["code"]
        == "enrolment_not_found"
    )
    assert (
        client.delete(f"/v1/enrolments/{tid}", headers=enroller).json()["error"]["code"]
        == "not_found"
    )
    r = client.post(
        "/v1/verify",
        json={"probe": b64(photo["rose_leslie"][0]), "traveller_id": tid},
        headers=gate,
    )
    assert r.status_code == 404


def test_enrolled_traveller_crosses_without_a_chip_portrait(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    doc_mrz = mrz(surname="LESLIE")
    r = client.post(
        "/v1/enrolments",
        json={"mrz": doc_mrz, "photos": [b64(photo["rose_leslie"][0])]},
        headers=admin,
    )
    assert r.status_code == 201
    txn = client.post("/v1/transactions", json={"mrz": doc_mrz}, headers=gate).json()
    assert txn["state"] == "capturing"
    r = client.post(
        f"/v1/transactions/{txn['id']}/captures",
        json={"image": b64(photo["rose_leslie"][1])},
        headers=gate,
    )
    assert r.json()["transaction"]["decision"] == "accept"


def test_enrolment_photo_without_a_face_is_refused(
    client: TestClient, admin: dict[str, str], photo_path: dict[str, Path]
) -> None:
    body = {"mrz": mrz(), "photos": [b64(photo_path["two_people.jpg"].read_bytes())]}
    r = client.post("/v1/enrolments", json=body, headers=admin)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "multiple_faces"
    assert r.json()["error"]["message"].startswith("2 faces in the photo 1")


@pytest.fixture
def own_client(tmp_path: Path) -> Iterator[TestClient]:
    """A service of its own: face-watchlist entries would refer the other tests' travellers."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'w.db'}",
        bootstrap_admin_token=ADMIN_TOKEN,
        policy_path=tmp_path / "policy.json",
        gallery_path=tmp_path / "gallery",
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_face_watchlist_and_identify(
    own_client: TestClient, admin: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    client = own_client
    gate = register_gate(client, admin, "identify-gate")
    r = client.post(
        "/v1/watchlists/faces",
        json={
            "entries": [
                {"id": "W-obama", "image": b64(photo["obama"][0])},
                {"id": "W-biden", "image": b64(photo["biden"][0])},
            ]
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["entries"] >= 2
    r = client.post("/v1/identify", files={"image": ("o.jpg", photo["obama"][1])}, headers=gate)
    assert [h["id"] for h in r.json()["hits"]] == ["W-obama"]
    r = client.post("/v1/identify", json={"image": b64(photo["rose_leslie"][0])}, headers=gate)
    assert r.json()["hits"] == []
    r = client.post(
        "/v1/watchlists/faces",
        json={"entries": [{"id": "W-obama", "image": b64(photo["obama"][0])}]},
        headers=admin,
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "duplicate_id"


def test_a_refused_face_load_leaves_the_watchlist_as_it_was(
    own_client: TestClient, admin: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    # 40 characters pass the schema's 64, but they are 80 UTF-8 bytes: the gallery refuses
    # the id. The same request's replacement of W-obama must not have happened either.
    client = own_client
    gate = register_gate(client, admin, "refused-load-gate")
    first = {"entries": [{"id": "W-obama", "image": b64(photo["obama"][0])}]}
    assert client.post("/v1/watchlists/faces", json=first, headers=admin).status_code == 200
    entries = [
        {"id": "W-obama", "image": b64(photo["biden"][0])},
        {"id": "\u00e9" * 40, "image": b64(photo["rose_leslie"][0])},
    ]
    r = client.post(
        "/v1/watchlists/faces", json={"entries": entries, "replace": True}, headers=admin
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_id"
    r = client.post("/v1/identify", files={"image": ("o.jpg", photo["obama"][1])}, headers=gate)
    assert [h["id"] for h in r.json()["hits"]] == ["W-obama"]
    r = client.post("/v1/identify", files={"image": ("b.jpg", photo["biden"][0])}, headers=gate)
    assert r.json()["hits"] == []


def test_sltd_and_person_watchlists_refer_at_the_gate(
    client: TestClient, admin: dict[str, str], gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    stolen = document()
    r = client.post(
        "/v1/watchlists/documents",
        json={
            "name": "sltd-test",
            "entries": [{"issuer": stolen.issuer, "number": stolen.number, "status": "stolen"}],
        },
        headers=admin,
    )
    assert r.json() == {"name": "sltd-test", "entries": 1}
    wanted = {"surname": "WANTEDPERSON", "given_names": "JOHN", "birth_date": "1974-08-12"}
    r = client.post(
        "/v1/watchlists/persons", json={"name": "p-test", "entries": [wanted]}, headers=admin
    )
    assert r.json()["entries"] == 1
    portrait = b64(photo["obama"][0])
    from egate.mrz import format_mrz

    txn = client.post(
        "/v1/transactions", json={"mrz": format_mrz(stolen), "portrait": portrait}, headers=gate
    ).json()
    assert txn["referral"]["reason"] == "watchlist"
    assert txn["referral"]["findings"][0] == {"code": "sltd_hit", "detail": "stolen"}
    person = mrz(surname="WANTEDPERSON", given_names="JOHN")
    txn = client.post(
        "/v1/transactions", json={"mrz": person, "portrait": portrait}, headers=gate
    ).json()
    assert txn["referral"]["findings"][0]["code"] == "person_watchlist_hit"
    r = client.post("/v1/app-checks", json={"mrz": format_mrz(stolen)}, headers=admin)
    assert (
        r.json()["verdict"] == "no_board"
        or r.json()["verdict"] == "NO_BOARD"
        or "no" in r.json()["verdict"].lower()
    )
    r = client.post(
        "/v1/watchlists/documents", json={"name": "sltd-test", "entries": []}, headers=admin
    )
    assert r.json()["entries"] == 0


def test_app_check_boards_a_valid_traveller(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/app-checks", json={"mrz": mrz()}, headers=admin)
    assert r.status_code == 200
    assert r.json() == {"verdict": r.json()["verdict"], "reasons": []}
    expired = client.post(
        "/v1/app-checks", json={"mrz": mrz(expiry_date=date(2020, 2, 2))}, headers=admin
    ).json()
    assert expired["verdict"] != r.json()["verdict"]
    assert expired["reasons"][0]["code"] == "document_expired"


def test_manifest_upload(client: TestClient, admin: dict[str, str]) -> None:
    travellers = tuple(ManifestTraveller.from_document(document()) for _ in range(3))
    manifest = Manifest(
        "LH400",
        "LH",
        "FRA",
        "JFK",
        datetime(2026, 11, 21, 10, 5),
        datetime(2026, 11, 21, 13, 0),
        travellers,
    )
    [text] = write_paxlst(manifest)
    loader = operator(client, admin, ["watchlist"])
    r = client.post(
        "/v1/manifests",
        content=text.encode(),
        headers={**loader, "Content-Type": "application/edifact"},
    )
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["carrier"], got["flight"], got["travellers"]) == ("LH", "LH400", 3)
    assert got["departure_local"] == "2026-11-21T10:05:00"
    assert client.get(f"/v1/manifests/{got['id']}", headers=loader).json() == got
    broken = text.replace("UNT+", "UNT+9")
    r = client.post(
        "/v1/manifests", content=broken.encode(), headers={**loader, "Content-Type": "text/plain"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "paxlst_malformed"
    assert "segment" in r.json()["error"]["detail"]
    assert client.get("/v1/manifests/999999", headers=loader).status_code == 404


def test_audit_export_and_verify(client: TestClient, admin: dict[str, str]) -> None:
    auditor = operator(client, admin, ["audit"])
    lines = client.get("/v1/audit/export", headers=auditor).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["seq"] == 1
    assert {"operator.create", "gate.register"} <= {r["action"] for r in records}
    r = client.get("/v1/audit/verify", headers=auditor).json()
    assert r["ok"] is True
    assert r["records"] >= len(records)
    assert (
        client.get("/v1/audit/verify", params={"anchor": r["head"]}, headers=auditor).json()["ok"]
        is True
    )
    r = client.get("/v1/audit/verify", params={"anchor": "garbage"}, headers=auditor)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_anchor"
    page = client.get(
        "/v1/audit/export", params={"after": 1, "limit": 2}, headers=auditor
    ).text.splitlines()
    assert [json.loads(x)["seq"] for x in page] == [2, 3]


def test_policy(client: TestClient, admin: dict[str, str], gate: dict[str, str]) -> None:
    policy = client.get("/v1/policy", headers=gate).json()
    assert policy["match_threshold"] == 0.6
    try:
        r = client.put(
            "/v1/policy",
            json={**policy, "match_threshold": 0.5, "eligible_nationalities": ["UTO"]},
            headers=admin,
        )
        assert r.status_code == 200
        assert client.get("/v1/policy", headers=admin).json()["match_threshold"] == 0.5
        r = client.put("/v1/policy", json={**policy, "match_threshold": 5}, headers=admin)
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "policy_invalid"
        assert r.json()["error"]["detail"]["name"] == "match_threshold"
        assert (
            client.put(
                "/v1/policy", json=policy, headers=operator(client, admin, ["audit"])
            ).status_code
            == 403
        )
    finally:
        client.put("/v1/policy", json=policy, headers=admin)


def test_live_face_on_the_face_watchlist_is_referred(
    own_client: TestClient, admin: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    client = own_client
    gate = register_gate(client, admin, "watch-gate")
    entry = {
        "id": "W-alex",
        "image": b64(photo["alex_lacamoire"][0]),
    }
    r = client.post(
        "/v1/watchlists/faces", json={"entries": [entry], "replace": True}, headers=admin
    )
    assert r.status_code == 200, r.text
    portrait = b64(photo["alex_lacamoire"][0])
    txn = client.post(
        "/v1/transactions", json={"mrz": mrz(), "portrait": portrait}, headers=gate
    ).json()
    url = f"/v1/transactions/{txn['id']}/captures"
    r = client.post(url, json={"image": b64(photo["alex_lacamoire"][1])}, headers=gate)
    final = r.json()["transaction"]
    assert final["decision"] == "refer"
    assert final["referral"]["reason"] == "watchlist"
    assert "W-alex" in final["referral"]["findings"][0]["detail"]
