"""One service per test session (models load once), on a fresh SQLite database, with
the real face pipeline; helpers to register gates and build documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import ADMIN_TOKEN, TestClient, numbers, register_gate

from api.app import create_app
from api.settings import Settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("egate-api")
    return Settings(
        database_url=f"sqlite:///{root / 'egate.db'}",
        bootstrap_admin_token=ADMIN_TOKEN,
        policy_path=root / "policy.json",
        gallery_path=root / "gallery",
        gate_rate_per_s=1000.0,
        gate_burst=1000,
        max_captures_per_transaction=5,
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def gate(
    client: TestClient, admin: dict[str, str], request: pytest.FixtureRequest
) -> dict[str, str]:
    return register_gate(client, admin, f"gate-{request.node.name[:40]}-{next(numbers)}")


# Photographs that pass the gate's capture quality (frontal, eye distance >= 90 px).
GOOD = {
    "obama": ("obama.jpg", "obama-1080p.jpg"),
    "alex_lacamoire": ("alex_lacamoire2.jpg", "alex_lacamoire3.jpg"),
    "rose_leslie": ("rose_leslie1.jpg", "rose_leslie2.jpg"),
    "biden": ("biden2.jpg",),
    "lin_manuel_miranda": ("lin_manuel_miranda1.png",),
}


@pytest.fixture(scope="session")
def photo(people: list) -> dict[str, list[bytes]]:  # type: ignore[type-arg]
    """Bytes of the gate-quality photographs, by identity, in the order of GOOD."""
    by_name = {Path(face.path).name: Path(face.path) for face in people}
    return {who: [by_name[n].read_bytes() for n in names] for who, names in GOOD.items()}


@pytest.fixture(scope="session")
def photo_path(face_manifest: list) -> dict[str, Path]:  # type: ignore[type-arg]
    """Every photograph of the set by file name (e.g. "two_people.jpg")."""
    return {Path(face.path).name: Path(face.path) for face in face_manifest}
