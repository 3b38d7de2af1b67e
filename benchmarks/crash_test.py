"""Crash test: kill -9 the server during load, restart it, and check that nothing the
server acknowledged was lost or duplicated and that the audit chain verifies.

1. Start `egate serve --workers 2` on 127.0.0.1 (random port) against a fresh
   PostgreSQL database; register gates.
2. The gates run whole transactions (real photographs), every write with an
   Idempotency-Key; each request is logged before it is sent, with its answer.
3. After `--kill-after` seconds: SIGKILL to the server's whole process group.
4. Restart the server on the same database. Every request that got no answer is
   retried with its original key (what a gate does after a network error).
5. Checks, against the database itself:
   - every transaction the server acknowledged (201 on open) is stored exactly once,
     with at least the attempts and the decision the server acknowledged;
   - no transaction exists that no open request (answered or retried) names: each
     idempotency key made at most one transaction;
   - each decided transaction has exactly one DECISION audit record;
   - the audit chain verifies (`GET /v1/audit/verify` and `Store.verify_audit`).

    .venv/bin/python benchmarks/crash_test.py --gates 16 --kill-after 8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_gates
from load_gates import ADMIN_TOKEN, IMPOSTOR, PAIRS, load_images, mrz_for

from benchmarks.machine import results_path

RESULTS = results_path("crash_test.json")


@dataclass
class Request:
    key: str
    gate: int
    name: str
    method: str
    url: str
    json: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    status: int | None = None
    body: dict[str, Any] | None = None
    retried: bool = False
    replayed: bool = False


@dataclass
class Log:
    requests: list[Request] = field(default_factory=list)


async def send(client: httpx.AsyncClient, headers: dict[str, str], req: Request) -> Request:
    r = await client.request(
        req.method,
        req.url,
        headers={**headers, "Idempotency-Key": req.key},
        json=req.json,
        files=req.files,
    )
    req.status = r.status_code
    req.replayed = r.headers.get("Idempotent-Replayed") == "true"
    if r.headers.get("content-type", "").startswith("application/json"):
        req.body = r.json()
    return req


async def gate_loop(
    client: httpx.AsyncClient,
    key: str,
    index: int,
    log: Log,
    images: dict[str, bytes],
    stop: asyncio.Event,
) -> None:
    headers = {"X-Gate-Key": key}
    n = index * 100_000
    while not stop.is_set():
        n += 1
        person = list(PAIRS)[n % len(PAIRS)]
        live = images[IMPOSTOR if n % 8 == 7 else PAIRS[person][1]]
        portrait = base64.b64encode(images[PAIRS[person][0]]).decode()
        req = Request(
            uuid.uuid4().hex,
            index,
            "open",
            "POST",
            "/v1/transactions",
            json={"mrz": mrz_for(n), "portrait": portrait},
        )
        log.requests.append(req)
        try:
            await send(client, headers, req)
            if req.status != 201 or req.body is None:
                await asyncio.sleep(0.2)
                continue
            txn = req.body
            while txn["state"] == "capturing" and not stop.is_set():
                cap = Request(
                    uuid.uuid4().hex, index, "capture", "POST",
                    f"/v1/transactions/{txn['id']}/captures",
                    files={"image": ("live.jpg", live, "image/jpeg")},
                )  # fmt: skip
                log.requests.append(cap)
                await send(client, headers, cap)
                if cap.status != 200 or cap.body is None:
                    break
                txn = cap.body["transaction"]
        except httpx.HTTPError:
            return  # the server is gone: this gate waits for it (its request is retried later)


async def run_load(url: str, keys: list[str], log: Log, seconds: float) -> None:
    images = load_images()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tasks = [
            asyncio.create_task(gate_loop(client, k, i, log, images, stop))
            for i, k in enumerate(keys)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait(tasks, timeout=60)


async def retry_unanswered(url: str, keys: list[str], log: Log) -> int:
    """Resend every request that got no answer, with its original key."""
    pending = [r for r in log.requests if r.status is None]
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for req in pending:
            req.retried = True
            for _ in range(10):
                try:
                    await send(client, {"X-Gate-Key": keys[req.gate]}, req)
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                if req.status != 503:
                    break
                await asyncio.sleep(1)
    return len(pending)


def check(database_url: str, log: Log, url: str, warm_up_ids: set[str]) -> dict[str, Any]:
    from sqlalchemy import text

    from egate.store import Store

    store = Store(database_url)
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, attempts, decision, state FROM transactions")).all()
        decision_audits = Counter(
            s
            for (s,) in conn.execute(
                text("SELECT subject FROM audit_log WHERE action = 'decision'")
            ).all()
        )
    stored = {r.id: r for r in rows}
    ids_in_db = Counter(r.id for r in rows)
    opens = [r for r in log.requests if r.name == "open"]
    acknowledged = {r.body["id"] for r in opens if r.status == 201 and r.body and not r.retried}
    named = {r.body["id"] for r in opens if r.status == 201 and r.body} | warm_up_ids
    lost = sorted(acknowledged - set(stored))
    orphans = sorted(set(stored) - named)
    duplicated = sorted(i for i, c in ids_in_db.items() if c > 1)
    regressions = []
    for cap in (r for r in log.requests if r.name == "capture" and r.status == 200 and r.body):
        t = cap.body["transaction"]
        row = stored.get(t["id"])
        if (
            row is None
            or row.attempts < t["attempts"]
            or (t["decision"] and row.decision != t["decision"])
        ):
            regressions.append(t["id"])
    decided = [i for i, r in stored.items() if r.decision is not None]
    audit_problems = sorted(i for i in decided if decision_audits[i] != 1)
    verification = store.verify_audit()
    api_verification = httpx.get(
        url + "/v1/audit/verify", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    ).json()
    store.close()
    return {
        "requests_sent": len(log.requests),
        "answered_before_kill": sum(
            1 for r in log.requests if r.status is not None and not r.retried
        ),
        "unanswered_at_kill": sum(1 for r in log.requests if r.retried),
        "retried_statuses": dict(Counter(str(r.status) for r in log.requests if r.retried)),
        # Committed before the kill but the answer was lost: the retry got the stored one.
        "retries_answered_from_stored_response": sum(
            1 for r in log.requests if r.retried and r.replayed
        ),
        "acknowledged_transactions": len(acknowledged),
        "warm_up_transactions": len(warm_up_ids),
        "transactions_in_database": len(stored),
        "lost": lost,
        "duplicated": duplicated,
        "orphans_no_request_names": orphans,
        "capture_acks_not_reflected": sorted(set(regressions)),
        "decided_transactions": len(decided),
        "decisions_without_exactly_one_audit_record": audit_problems,
        "audit_chain_ok": verification.ok,
        "audit_records": verification.records,
        "api_audit_verify": api_verification,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gates", type=int, default=16)
    parser.add_argument(
        "--kill-after", type=float, default=8.0, help="seconds of load before kill -9"
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"egate-crash-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    load_images()
    with load_gates.fresh_database() as db:
        server = load_gates.start_server(db, workdir, workers=args.workers)
        port = int(server.url.rsplit(":", 1)[1])
        keys = asyncio.run(load_gates.register_gates(server.url, args.gates, "crash"))
        warm = (
            load_gates.Stats()
        )  # one transaction per worker first, so the load is not the warm-up
        asyncio.run(load_gates.run_gates(server.url, keys[:1], 10, args.workers * 2, warm))
        log = Log()

        async def load_then_kill() -> None:
            load = asyncio.create_task(run_load(server.url, keys, log, args.kill_after + 3))
            await asyncio.sleep(args.kill_after)
            os.killpg(server.process.pid, signal.SIGKILL)  # the master and every worker
            killed_at = time.monotonic()
            await load
            print(
                f"killed -9 at {args.kill_after:.0f} s; "
                f"load stopped {time.monotonic() - killed_at:.1f} s later"
            )

        asyncio.run(load_then_kill())
        server.process.wait(10)
        restarted = load_gates.start_server(db, workdir, workers=args.workers, port=port)
        try:
            retried = asyncio.run(retry_unanswered(restarted.url, keys, log))
            print(f"restarted; retried {retried} unanswered requests with their keys")
            result = check(db, log, restarted.url, set(warm.acknowledged))
        finally:
            restarted.stop()
    ok = not (
        result["lost"] or result["duplicated"] or result["orphans_no_request_names"]
        or result["capture_acks_not_reflected"]
        or result["decisions_without_exactly_one_audit_record"]
    ) and result["audit_chain_ok"] and result["api_audit_verify"]["ok"]  # fmt: skip
    result["passed"] = ok
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1, default=str))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "api_audit_verify"}, indent=1, default=str
        )
    )
    print("CRASH TEST", "PASSED" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
