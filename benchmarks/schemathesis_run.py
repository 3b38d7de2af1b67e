"""schemathesis against the live service's OpenAPI schema: no answer may be a 5xx.

Starts `egate serve` on 127.0.0.1 (random port, fresh PostgreSQL database), registers
a gate, then runs `schemathesis run` twice over every operation: once as the admin
operator (Authorization: Bearer) and once as a gate (X-Gate-Key), so both sides of
the authorisation are fuzzed past the 401. Bounded by --max-examples per operation
and --max-time per pass. Writes benchmarks/results/schemathesis.json.

    .venv/bin/python benchmarks/schemathesis_run.py --max-examples 40 --max-time 240
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_gates
from load_gates import ADMIN_TOKEN

from benchmarks.machine import results_path

RESULTS = results_path("schemathesis.json")


def run_pass(url: str, header: str, args: argparse.Namespace, report: Path) -> dict[str, object]:
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", str(args.max_examples),
        "--max-time", str(args.max_time), "--workers", "2", "--seed", str(args.seed),
        "--request-timeout", "30", "--no-color", "-H", header,
        "--suppress-health-check", "all", "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=args.max_time + 300, check=False
    )
    report.with_suffix(".txt").write_text(done.stdout + done.stderr)
    lines = done.stdout.strip().splitlines()
    tail = lines[-25:]
    start = next(
        (i for i, line in enumerate(lines) if "ERRORS" in line or "FAILURES" in line), None
    )
    if start is not None:
        tail = [*lines[start : start + 40], "...", *tail]
    summary = next((line for line in reversed(tail) if re.search(r"\d+ (passed|failed)", line)), "")
    return {"exit_code": done.returncode, "summary": summary.strip("= "), "tail": tail}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-examples", type=int, default=40)
    parser.add_argument("--max-time", type=int, default=240, help="seconds per pass")
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"egate-schemathesis-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    results: dict[str, object] = {}
    with load_gates.fresh_database() as db:
        server = load_gates.start_server(
            db,
            workdir,
            workers=2,
            extra_env={"EGATE_GATE_RATE_PER_S": "1000", "EGATE_GATE_BURST": "1000"},
        )
        try:
            [gate_key] = asyncio.run(load_gates.register_gates(server.url, 1, "fuzz"))
            for name, header in (
                ("admin", f"Authorization: Bearer {ADMIN_TOKEN}"),
                ("gate", f"X-Gate-Key: {gate_key}"),
            ):
                results[name] = run_pass(server.url, header, args, workdir / f"{name}.json")
                print(f"[{name}] exit {results[name]['exit_code']}: {results[name]['summary']}")  # type: ignore[index]
            log = server.log.read_text(errors="replace")
            results["server_tracebacks"] = log.count("Traceback")
        finally:
            server.stop()
    results["passed"] = all(r["exit_code"] == 0 for k, r in results.items() if isinstance(r, dict))  # type: ignore[index]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    for name in ("admin", "gate"):
        print(f"--- {name} ---")
        print("\n".join(results[name]["tail"]))  # type: ignore[index]
    print("SCHEMATHESIS", "PASSED (no 5xx)" if results["passed"] else "FAILED")


if __name__ == "__main__":
    main()
