"""The distribution is wired: packages import cheaply and the `egate` command answers."""

from __future__ import annotations

import subprocess
import sys


def test_importing_packages_loads_no_model() -> None:
    code = (
        "import sys, biometrics, egate, api, sim\n"
        "heavy = {'onnxruntime', 'dlib', 'face_recognition', 'sqlalchemy', 'fastapi', 'simpy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_egate_command_lists_its_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "api", "--help"], capture_output=True, text=True, check=True
    )
    assert "e-Gate" in out.stdout
