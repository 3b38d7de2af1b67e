"""The benchmark scripts' results files: where they go, and that a smoke run leaves the
measured ones (the README quotes them) alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.machine import RESULTS_ENV, results_path

REPO = Path(__file__).resolve().parents[1]
MEASURED = REPO / "benchmarks" / "results"


def test_results_go_to_benchmarks_results_unless_the_environment_names_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert results_path("matcher.json") == MEASURED / "matcher.json"
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "elsewhere"))
    assert results_path("matcher.json") == tmp_path / "elsewhere" / "matcher.json"
    assert (tmp_path / "elsewhere").is_dir()


def test_a_quick_run_writes_beside_the_measured_results(tmp_path: Path) -> None:
    measured = (MEASURED / "documents.json").read_bytes()
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "documents"],
        env={**os.environ, RESULTS_ENV: str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (MEASURED / "documents.json").read_bytes() == measured
    written = json.loads((tmp_path / "documents.json").read_text())
    assert written["mrz"]
    assert written["chip"]
    assert f"results in {tmp_path}: documents.json" in done.stdout
