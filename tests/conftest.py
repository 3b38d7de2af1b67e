"""Shared fixtures: the real face photographs in ../shared/faces (or $EGATE_TEST_FACES)
and a PostgreSQL URL from $EGATE_TEST_DATABASE_URL."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from biometrics import runtime

# CI runs the examples a fixed seed gives (reproducible with CI=true locally); other runs
# keep exploring new examples and store what they find in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_REPO = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Loads ONNX Runtime as the service does (int8 products off AMX unless EGATE_ONNX_AMX
    asks, see biometrics.runtime) before any test module imports it directly, so the tests
    run the production kernels."""
    runtime.onnxruntime()


def faces_dir() -> Path | None:
    """The face set, or None when it is absent on this machine."""
    configured = os.environ.get("EGATE_TEST_FACES")
    path = Path(configured) if configured else _REPO.parent / "shared" / "faces"
    return path if (path / "manifest.csv").is_file() else None


@dataclass(frozen=True)
class FaceImage:
    path: Path
    identities: tuple[str, ...]
    faces: int
    note: str


@pytest.fixture(scope="session")
def faces_root() -> Path:
    root = faces_dir()
    if root is None:
        pytest.skip(
            "face photographs not found: put them in ../shared/faces or set EGATE_TEST_FACES"
        )
    return root


@pytest.fixture(scope="session")
def face_manifest(faces_root: Path) -> list[FaceImage]:
    """Every row of manifest.csv whose file exists (rows naming a missing file are skipped)."""
    with (faces_root / "manifest.csv").open(newline="") as f:
        rows = [
            FaceImage(
                faces_root / r["path"], tuple(r["identity"].split(";")), int(r["faces"]), r["note"]
            )
            for r in csv.DictReader(f)
        ]
    return [r for r in rows if r.path.is_file()]


@pytest.fixture(scope="session")
def people(face_manifest: list[FaceImage]) -> list[FaceImage]:
    """Single-face photographs of known identities (`people/`)."""
    return [r for r in face_manifest if r.path.parent.parent.name == "people"]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("EGATE_TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "no PostgreSQL: set EGATE_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    return url
