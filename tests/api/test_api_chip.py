"""A gate reading the chip: DG1, DG2 (a real photograph) and the SOD, verified
against the configured CSCA, through the HTTP API."""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import ADMIN_TOKEN, TestClient, mrz, register_gate
from cryptography.hazmat.primitives import serialization
from PIL import Image

from api.app import create_app
from api.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "egate"))
import chipbuilder


@pytest.fixture(scope="module")
def csca() -> chipbuilder.Signer:
    return chipbuilder.make_csca()


@pytest.fixture
def chip_client(tmp_path: Path, csca: chipbuilder.Signer) -> Iterator[TestClient]:
    pem = tmp_path / "csca.pem"
    pem.write_bytes(csca.cert.public_bytes(serialization.Encoding.PEM))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'chip.db'}",
        bootstrap_admin_token=ADMIN_TOKEN,
        policy_path=tmp_path / "policy.json",
        gallery_path=tmp_path / "gallery",
        csca_path=pem,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def chip_body(
    printed: str, chip_mrz: str, portrait: bytes, signer: chipbuilder.Signer
) -> dict[str, str]:
    width, height = Image.open(io.BytesIO(portrait)).size
    chip = chipbuilder.build_chip(chip_mrz, portrait, width, height, signer)
    enc = base64.b64encode
    return {
        "mrz": printed,
        "dg1": enc(chip.dg1).decode(),
        "dg2": enc(chip.dg2).decode(),
        "sod": enc(chip.sod).decode(),
    }


def test_genuine_chip_then_the_holders_face_is_accepted(
    chip_client: TestClient, csca: chipbuilder.Signer, photo: dict[str, list[bytes]]
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    gate = register_gate(chip_client, admin, "chip-gate")
    printed = mrz()
    body = chip_body(printed, printed, photo["obama"][0], chipbuilder.make_ds(csca))
    txn = chip_client.post("/v1/transactions", json=body, headers=gate).json()
    assert txn["state"] == "capturing", txn
    image = base64.b64encode(photo["obama"][1]).decode()
    r = chip_client.post(
        f"/v1/transactions/{txn['id']}/captures", json={"image": image}, headers=gate
    )
    assert r.json()["transaction"]["decision"] == "accept"


def test_chip_whose_dg1_differs_from_the_printed_mrz_is_referred(
    chip_client: TestClient, csca: chipbuilder.Signer, photo: dict[str, list[bytes]]
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    gate = register_gate(chip_client, admin, "chip-gate-2")
    body = chip_body(mrz(), mrz(), photo["obama"][0], chipbuilder.make_ds(csca))
    txn = chip_client.post("/v1/transactions", json=body, headers=gate).json()
    assert txn["referral"]["reason"] == "document"
    assert txn["referral"]["findings"][0]["code"] == "dg1_mrz_mismatch"


def test_chip_signed_by_an_unknown_csca_is_referred(
    chip_client: TestClient, photo: dict[str, list[bytes]]
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    gate = register_gate(chip_client, admin, "chip-gate-3")
    forger = chipbuilder.make_ds(chipbuilder.make_csca(name="CSCA Forged"))
    printed = mrz()
    txn = chip_client.post(
        "/v1/transactions",
        json=chip_body(printed, printed, photo["obama"][0], forger),
        headers=gate,
    ).json()
    assert txn["referral"]["reason"] == "document"
    assert {f["code"] for f in txn["referral"]["findings"]} == {"chip_invalid"}
