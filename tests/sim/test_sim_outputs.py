"""Outputs of `egate sim run`: records, KPIs JSON, plots, and an HTML report that
opens in headless Chromium without errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from simcases import small_hall

from sim.cli import demo_command, sim_group
from sim.kpis import json_ready
from sim.runner import run_scenario, write_outputs
from sim.scenario import Scenario, parse_scenario


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    scenario = parse_scenario(small_hall())
    result = run_scenario(scenario)
    return write_outputs(result, tmp_path_factory.mktemp("out"))


def test_output_folder_has_every_artefact(outputs: dict[str, Path]) -> None:
    assert sorted(outputs) == ["kpis", "queue_length", "records", "report", "waiting_times"]
    for path in outputs.values():
        assert path.stat().st_size > 0
    for name in ("queue_length", "waiting_times"):
        assert outputs[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_records_file_has_one_row_per_traveller_and_replication(outputs: dict[str, Path]) -> None:
    table = pq.read_table(outputs["records"])
    assert table.num_rows == 2 * 2500
    exits = table.column("exit").to_pylist()
    assert set(exits) <= {"egate", "desk", "secondary"}
    assert sorted(set(table.column("replication").to_pylist())) == [0, 1]


def test_kpis_json_has_confidence_intervals(outputs: dict[str, Path]) -> None:
    data = json.loads(outputs["kpis"].read_text(encoding="utf-8"))
    wait = data["summary"]["queues"]["desks"]["wait_p95_s"]
    assert wait["n"] == 2
    assert wait["low"] <= wait["mean"] <= wait["high"]
    assert len(data["replications"]) == 2
    assert set(data["summary"]["referral_rate"]) == {
        "document",
        "watchlist",
        "capture_quality",
        "no_match",
        "timeout",
    }


def test_html_report_is_self_contained(outputs: dict[str, Path]) -> None:
    page = outputs["report"].read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page
    assert "https://" not in page
    assert "<h2>Key figures per queue</h2>" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (.ci/run installs Debian's package)"
)
def test_html_report_opens_in_headless_chromium_without_errors(outputs: dict[str, Path]) -> None:
    browser = _chromium()
    assert browser is not None
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            outputs["report"].resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The page's own script marks the body once every embedded image has decoded.
    assert 'data-status="ok"' in proc.stdout
    assert 'data-images="2"' in proc.stdout
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []


def test_cli_run_prints_the_table_and_writes_outputs(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(small_hall()), encoding="utf-8")
    result = CliRunner().invoke(
        sim_group,
        [
            "run",
            str(tmp_path / "s.yaml"),
            "-o",
            str(tmp_path / "out"),
            "-r",
            "1",
            "--records",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "p95 wait min" in result.output
    assert (tmp_path / "out" / "records.csv").is_file()
    assert (tmp_path / "out" / "report.html").is_file()


def test_cli_reports_scenario_errors_with_their_code(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump(small_hall(egates={"gates": -1})), encoding="utf-8"
    )
    result = CliRunner().invoke(
        sim_group, ["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "[invalid_value] egates.gates: must be >= 0.0 (got -1)" in result.output
    result = CliRunner().invoke(sim_group, ["run", "demo", "--set", "egates.gates"])
    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.output


def test_demo_runs_on_defaults_and_prints_kpis() -> None:
    result = CliRunner().invoke(demo_command, ["--replications", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Peak day: 300 flights, 60 e-gates in 6 banks, 45 desks")
    row = next(line for line in lines if line.startswith("egates "))
    served = int(row.split()[2])
    assert 55_000 < served < 75_000


def test_same_seed_same_kpis_across_worker_counts_and_progress(small_scenario: Scenario) -> None:
    one = run_scenario(small_scenario, workers=1, keep_records=False)
    two = run_scenario(small_scenario, workers=2, keep_records=False)
    ticks: list[float] = []
    watched = run_scenario(small_scenario, keep_records=False, on_progress=ticks.append)
    assert json_ready(one.summary) == json_ready(two.summary) == json_ready(watched.summary)
    assert ticks[-1] == 1.0
    assert np.isfinite(one.summary.queues["egates"]["wait_p95_s"].mean)
