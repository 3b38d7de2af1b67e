import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from memlock_refused import files_kib, locked_kib, run_refused
from pydantic import ValidationError

from api.cli import main
from api.gallery import FaceGallery
from api.settings import DEFAULT_SECRET, Environment, Settings
from biometrics.matcher import Gallery
from biometrics.matcher.codes import CodesLayout, preferred_layout
from biometrics.runtime import cpu_has_amx

STRONG_KEY = base64.b64encode(bytes(range(32))).decode()


def test_reads_the_egate_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGATE_MAX_CAPTURES_PER_TRANSACTION", "7")
    monkeypatch.setenv("EGATE_DATABASE_URL", "sqlite:///x.db")
    s = Settings()
    assert s.max_captures_per_transaction == 7
    assert s.database_url == "sqlite:///x.db"
    assert s.environment is Environment.DEVELOPMENT


@pytest.mark.parametrize("layout", list(CodesLayout), ids=lambda layout: layout.value)
def test_the_codes_layout_reaches_the_face_gallery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, layout: CodesLayout
) -> None:
    monkeypatch.setenv("EGATE_CODES_LAYOUT", layout.value)
    settings = Settings(gallery_path=tmp_path / "faces")
    assert settings.codes_layout is layout
    faces = FaceGallery(settings.gallery_path, settings.codes_layout)
    faces.add(["w1"], np.full((1, 128), 0.1, np.float32), replace=False)
    with Gallery.open(settings.gallery_path) as gallery:
        assert gallery.codes_layout is layout


def test_the_codes_layout_defaults_to_the_hosts_and_refuses_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    faces = FaceGallery(tmp_path / "faces", Settings().codes_layout)
    faces.add(["w1"], np.full((1, 128), 0.1, np.float32), replace=False)
    with Gallery.open(tmp_path / "faces") as gallery:
        assert gallery.codes_layout is preferred_layout()
    monkeypatch.setenv("EGATE_CODES_LAYOUT", "diagonal")
    with pytest.raises(ValidationError, match="codes_layout") as caught:
        Settings()
    assert "diagonal" in str(caught.value)


def test_development_accepts_the_default_secrets() -> None:
    assert Settings().bootstrap_admin_token.get_secret_value() == DEFAULT_SECRET


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_refuses_default_template_key_outside_development(environment: str) -> None:
    with pytest.raises(
        ValidationError, match="EGATE_TEMPLATE_KEY still has its development default"
    ):
        Settings(environment=environment, bootstrap_admin_token="t" * 40, secret_pepper="p" * 40)


def test_refuses_default_admin_token_outside_development() -> None:
    with pytest.raises(ValidationError, match="EGATE_BOOTSTRAP_ADMIN_TOKEN still has its"):
        Settings(environment="production", template_key=STRONG_KEY)


def test_refuses_default_pepper_outside_development() -> None:
    with pytest.raises(ValidationError, match="EGATE_SECRET_PEPPER still has its"):
        Settings(environment="staging", template_key=STRONG_KEY, bootstrap_admin_token="t" * 40)


def test_production_with_real_secrets_starts() -> None:
    s = Settings(
        environment="production",
        template_key=STRONG_KEY,
        bootstrap_admin_token="x" * 40,
        secret_pepper="p" * 40,
    )
    assert s.template_key_bytes() == bytes(range(32))


@given(st.binary(min_size=0, max_size=64))
def test_template_key_must_be_32_bytes(raw: bytes) -> None:
    encoded = base64.b64encode(raw).decode()
    if len(raw) == 32:
        assert Settings(template_key=encoded).template_key_bytes() == raw
    else:
        with pytest.raises(ValidationError, match=f"must decode to 32 bytes, got {len(raw)}"):
            Settings(template_key=encoded)


def test_template_key_must_be_base64() -> None:
    with pytest.raises(ValidationError, match="must be base64"):
        Settings(template_key="not base64 at all!")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="max_request_bytes"):
        Settings(max_request_bytes=0)


# A worker started with EGATE_ONNX_AMX=true lets ONNX Runtime's int8 products use AMX (where
# the CPU has it); the choice is the process's, so it starts in a new interpreter.
SERVICE = """
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from api.app import create_app
from api.settings import Settings
from biometrics import runtime

root = Path(sys.argv[1])
settings = Settings(
    database_url=f"sqlite:///{root / 'egate.db'}",
    policy_path=root / "policy.json",
    gallery_path=root / "gallery",
)
with TestClient(create_app(settings)) as client:
    assert client.get("/readyz").status_code == 200
print(json.dumps([settings.onnx_amx, runtime.int8_uses_amx()]))
"""


@pytest.mark.parametrize("value", ["true", "false"])
def test_the_amx_setting_reaches_onnx_runtime(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVICE, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "EGATE_ONNX_AMX": value},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    allowed = value == "true"
    assert json.loads(done.stdout.splitlines()[-1]) == [allowed, allowed and cpu_has_amx()]


def test_the_egate_command_stops_on_a_bad_amx_variable(tmp_path: Path) -> None:
    # Before the command reads its scenario: with a good value it fails on the missing file.
    command = ["sim", "run", str(tmp_path / "absent.yaml")]
    result = CliRunner().invoke(main, command, env={"EGATE_ONNX_AMX": "maybe"})
    assert result.exit_code == 2
    assert "EGATE_ONNX_AMX must be true or false" in result.output
    assert "'maybe'" in result.output
    fine = CliRunner().invoke(main, command, env={"EGATE_ONNX_AMX": "off"})
    assert fine.exit_code != 0
    assert "EGATE_ONNX_AMX" not in fine.output
    assert "absent.yaml" in fine.output


@pytest.mark.parametrize(
    "args",
    [["sim", "--help"], ["sim", "run", "-h"], ["verify", "--help"], ["--help"]],
)
def test_help_needs_no_valid_amx_variable(args: list[str]) -> None:
    result = CliRunner().invoke(main, args, env={"EGATE_ONNX_AMX": "maybe"})
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert "EGATE_ONNX_AMX" not in result.output


def test_a_help_word_after_double_dash_is_not_a_help_request(tmp_path: Path) -> None:
    command = ["sim", "run", str(tmp_path / "absent.yaml"), "--", "--help"]
    result = CliRunner().invoke(main, command, env={"EGATE_ONNX_AMX": "maybe"})
    assert result.exit_code == 2
    assert "EGATE_ONNX_AMX must be true or false" in result.output


def test_the_gallery_lock_reaches_each_workers_face_gallery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EGATE_GALLERY_LOCK_MEMORY", "true")
    settings = Settings(gallery_path=tmp_path / "faces")
    assert settings.gallery_lock_memory
    assert not Settings.model_fields["gallery_lock_memory"].default
    faces = FaceGallery(
        settings.gallery_path, settings.codes_layout, lock_memory=settings.gallery_lock_memory
    )
    rows = np.random.default_rng(5).standard_normal((300, 128)).astype(np.float32) * 0.1
    faces.add([f"w{i}" for i in range(300)], rows, replace=False)
    before = locked_kib()
    hits = faces.search(rows[:1], threshold=0.6, k=1)
    assert hits[0][0].id == "w0"
    assert locked_kib() - before == files_kib(settings.gallery_path)
    faces.close()
    assert locked_kib() == before


_REFUSED_SEARCH = """
import logging, json
from pathlib import Path
import numpy as np
from api.gallery import FaceGallery

logging.basicConfig(level=logging.INFO)
faces = FaceGallery(Path(args[0]), lock_memory=True)
rows = np.random.default_rng(5).standard_normal((300, 128)).astype(np.float32) * 0.1
faces.add([f"w{i}" for i in range(300)], rows, replace=False)
hits = faces.search(rows[:1], threshold=0.6, k=1)
print(json.dumps({"hit": hits[0][0].id, "locked_kib": locked_kib()}))
"""


def test_a_refused_gallery_lock_is_logged_and_the_screening_goes_on(tmp_path: Path) -> None:
    child = run_refused(_REFUSED_SEARCH, str(tmp_path / "faces"))
    assert json.loads(child.stdout) == {"hit": "w0", "locked_kib": 0}
    assert "face gallery left unlocked" in child.stderr
    assert "RLIMIT_MEMLOCK is 65,536 bytes" in child.stderr
