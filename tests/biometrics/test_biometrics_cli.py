"""`egate verify`, `egate eval` and `egate faces-demo` on the real photographs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from PIL import Image

from biometrics.cli import commands, eval_command, faces_demo_command, verify_command
from sim.det import DetTable

if TYPE_CHECKING:
    from tests.conftest import FaceImage


def _of(people: list[FaceImage], identity: str) -> list[Path]:
    paths = sorted(p.path for p in people if p.identities == (identity,))
    if len(paths) < 2:
        pytest.skip(f"need two photographs of {identity}")
    return paths


def _distance(output: str) -> float:
    found = re.search(r"distance (\d+\.\d+) \(threshold", output)
    assert found, output
    return float(found.group(1))


def test_commands_are_registered() -> None:
    names = {c.name for c in commands}
    assert {"models", "verify", "eval", "faces-demo"} <= names


def test_importing_the_cli_loads_no_model_or_plotting() -> None:
    code = (
        "import sys, biometrics.cli; "
        "heavy = {'onnxruntime', 'matplotlib', 'scipy', 'dlib', 'biometrics.pipeline'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_verify_same_person_matches(people: list[FaceImage]) -> None:
    first, second = _of(people, "obama")[:2]
    result = CliRunner().invoke(verify_command, [str(first), str(second)])
    assert result.exit_code == 0, result.output
    assert "MATCH" in result.stdout
    assert "NO MATCH" not in result.stdout
    assert _distance(result.stdout) <= 0.6
    assert result.stdout.count("-> ok") == 2  # quality findings of both images


def test_verify_threshold_decides(people: list[FaceImage]) -> None:
    first, second = _of(people, "obama")[:2]
    result = CliRunner().invoke(verify_command, [str(first), str(second), "--threshold", "0.01"])
    assert result.exit_code == 1, result.output
    assert _distance(result.stdout) > 0.01
    assert "NO MATCH" in result.stdout


def test_verify_different_people_do_not_match(people: list[FaceImage]) -> None:
    obama = _of(people, "obama")[0]
    other = _of(people, "kit_harington")[0]
    result = CliRunner().invoke(verify_command, [str(obama), str(other)])
    assert result.exit_code == 1, result.output
    assert "NO MATCH" in result.stdout
    assert _distance(result.stdout) > 0.6


def test_verify_group_photo_is_unusable(people: list[FaceImage], faces_root: Path) -> None:
    group = faces_root / "group" / "obama_and_biden.jpg"
    if not group.is_file():
        pytest.skip("group photograph absent")
    result = CliRunner().invoke(verify_command, [str(_of(people, "obama")[0]), str(group)])
    assert result.exit_code == 2, result.output
    assert re.search(
        r"\[multiple_faces\] .*obama_and_biden\.jpg: .*\(\d+ faces found\)", result.stderr
    )
    assert "[multiple_faces]" in result.stdout  # the quality findings of image B
    assert "MATCH" not in result.stdout  # no decision without two faces


def test_verify_not_an_image(people: list[FaceImage], tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photograph")
    result = CliRunner().invoke(verify_command, [str(_of(people, "obama")[0]), str(text)])
    assert result.exit_code == 2, result.output
    assert re.search(
        r"error: \[(invalid_image|unsupported_image_format)\] .*notes\.jpg", result.stderr
    )


def test_verify_gate_quality_refuses_a_small_face(people: list[FaceImage]) -> None:
    small = [p for p in _of(people, "obama") if p.name == "obama-240p.jpg"]
    if not small:
        pytest.skip("obama-240p.jpg absent")
    result = CliRunner().invoke(
        verify_command, [str(_of(people, "obama")[0]), str(small[0]), "--gate-quality"]
    )
    assert result.exit_code == 2, result.output
    # too small for the gate's 90 px eye distance: refused, or not even searched for
    assert re.search(r"error: \[(too_far|no_face)\] .*obama-240p\.jpg", result.stderr)


def test_eval_on_the_people_set(faces_root: Path, tmp_path: Path) -> None:
    people_dir = faces_root / "people"
    png, table = tmp_path / "det.png", tmp_path / "det.csv"
    result = CliRunner().invoke(
        eval_command,
        [str(people_dir), "--det", str(png), "--table", str(table), "--fmr", "0.01"],
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"images\s+20\b", out)
    assert re.search(r"identities\s+6\b", out)
    assert re.search(r"failures to enrol\s+0\b", out)
    assert re.search(r"genuine pairs\s+44\b", out)
    assert re.search(r"impostor pairs\s+146\b", out)
    assert "FMR 0.0000% (0/146)" in out
    assert "FNMR 0.0000% (0/44)" in out
    assert re.search(r"EER 0\.0000% at threshold 0\.\d{4}", out)
    assert re.search(r"^  0\.01\s+0\.\d{4}\s+0\.0000%$", out, re.MULTILINE)
    assert "smoke test, not an error-rate estimate" in out
    assert "[20/20]" in result.stderr  # progress
    with Image.open(png) as image:
        assert image.format == "PNG"
    det = DetTable.load(table)
    assert len(det.thresholds) == 2 * 190  # every distinct distance and its corner
    assert det.at(0.6) == (0.0, 0.0)
    assert det.at(0.0) == (0.0, 1.0)
    assert det.at(1.5) == (1.0, 0.0)


def test_eval_reports_failures_to_enrol(faces_root: Path, tmp_path: Path) -> None:
    people = faces_root / "people"
    group = faces_root / "group" / "obama_and_biden.jpg"
    sources = {
        "obama": [people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg"],
        "biden": [people / "biden" / "biden.jpg", group],
    }
    if not all(p.is_file() for paths in sources.values() for p in paths):
        pytest.skip("photographs absent")
    for identity, paths in sources.items():
        (tmp_path / "set" / identity).mkdir(parents=True)
        for p in paths:
            shutil.copy(p, tmp_path / "set" / identity / p.name)
    (tmp_path / "set" / "biden" / "README.txt").write_text("ignored: not an image")
    result = CliRunner().invoke(eval_command, [str(tmp_path / "set"), "--fmr", "0.4"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"images\s+4\b", out)
    assert re.search(r"failures to enrol\s+1\s+\(FTE 25\.00%\)", out)
    assert re.search(r"genuine pairs\s+1\b", out)
    assert re.search(r"impostor pairs\s+2\b", out)
    assert "not enrolled: biden/obama_and_biden.jpg [multiple_faces]" in out
    assert "skipped: [multiple_faces]" in result.stderr


def test_eval_without_images(tmp_path: Path) -> None:
    (tmp_path / "someone").mkdir()
    (tmp_path / "someone" / "notes.txt").write_text("x")
    result = CliRunner().invoke(eval_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert "[no_images]" in result.output


def test_eval_rejects_a_target_fmr_of_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_command, [str(tmp_path), "--fmr", "1"])
    assert result.exit_code == 2
    assert "--fmr" in result.output


def test_faces_demo_from_the_environment(faces_root: Path) -> None:
    result = CliRunner().invoke(faces_demo_command, [], env={"EGATE_FACES": str(faces_root)})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Face set {faces_root / 'people'}: 20 images, 6 identities" in out
    assert re.search(r"^genuine\s+obama\s+obama\s+36\s+0\.\d{4}\s+0\.\d{4}\s+36\s+0$", out, re.M)
    assert re.search(r"^genuine\s+\(all\)\s+44\s+0\.\d{4}\s+0\.\d{4}\s+44\s+0$", out, re.M)
    assert re.search(r"^impostor\s+\(all\)\s+146\s+0\.\d{4}\s+\d\.\d{4}\s+0\s+146$", out, re.M)
    # one row per identity pair: 5 genuine (one person has a single photo) + 15 impostor
    assert len(re.findall(r"^(genuine|impostor)\s+[a-z_]+\s+[a-z_]+\s+\d+", out, re.M)) == 20
