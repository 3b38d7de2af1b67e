"""Store at scale: bulk-load N gate transactions (10 million by default) into SQLite and
PostgreSQL through the real schema (`Store.upgrade()`), then time the operator's
queries through the real `Store` code, and the API's write path on the loaded table.

    .venv/bin/python benchmarks/bench_store.py                    # 10M rows, both databases
    (with an uninstalled checkout: PYTHONPATH=. .venv/bin/python benchmarks/bench_store.py)
    .venv/bin/python benchmarks/bench_store.py --rows 200000      # a quick run
    .venv/bin/python benchmarks/bench_store.py --backends sqlite

PostgreSQL URL: --postgres-url or $EGATE_TEST_DATABASE_URL; the run uses a schema of
its own and drops it at the end (--keep to keep it). Results go to
benchmarks/results/store.json (medians in milliseconds).

Load phase: the secondary indexes of `transactions` are dropped, rows are inserted in
batches (SQLite: executemany, one transaction per batch; PostgreSQL: COPY), and the
indexes are rebuilt (timed separately). The steady-state cost of inserting into the
fully indexed 10M-row table is measured afterwards ("online" inserts and the API's
exactly-once write: transaction + audit record + idempotency record per commit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import sqlalchemy
from sqlalchemy import Table, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.machine import cpu_model, results_path
from egate.gate import Decision, ReferralReason, State
from egate.store import Store, StoredResponse, TransactionQuery, TransactionRecord
from egate.store.models import Transaction

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)
GATES = [f"G{i:03d}" for i in range(48)]
ISSUERS = ["UTO", "D<<", "FRA", "GBR", "USA", "JPN", "NLD", "TWN", "ITA", "ESP"]
REASONS = [
    r.value
    for r in (
        ReferralReason.NO_MATCH,
        ReferralReason.CAPTURE_QUALITY,
        ReferralReason.DOCUMENT,
        ReferralReason.WATCHLIST,
        ReferralReason.ELIGIBILITY,
    )
]
COLUMNS = [
    "id",
    "gate_id",
    "opened_at",
    "closed_at",
    "state",
    "decision",
    "referral_reason",
    "referral_detail",
    "attempts",
    "document_issuer",
    "document_number",
    "steps",
]
STEPS_ACCEPT = json.dumps(
    [
        {"step": "document_read", "passed": True},
        {"step": "document_check", "passed": True},
        {"step": "screening", "passed": True},
        {"step": "eligibility", "passed": True},
        {"step": "capture", "passed": True, "distance": 0.41},
    ]
)
STEPS_REFER = json.dumps(
    [
        {"step": "document_read", "passed": True},
        {"step": "document_check", "passed": True},
        {"step": "capture", "passed": False, "distance": 0.68, "findings": ["no_match"]},
    ]
)
BYTES_PER_ROW = 900  # table + 6 indexes, measured on a 1M-row run, with headroom


@dataclass(frozen=True)
class Params:
    rows: int
    days: int
    documents: int
    batch: int
    repeats: int
    seed: int
    audit_records: int


# -- synthetic rows ----------------------------------------------------------------------


def batches(p: Params) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """Columns of `p.batch` rows at a time; opened_at increases with the row number
    (ids are time-ordered UUIDv7, as `new_transaction_id` makes them)."""
    rng = np.random.default_rng(p.seed)
    span_us = p.days * 86_400 * 1_000_000
    start_us = int(START.timestamp() * 1_000_000)
    for lo in range(0, p.rows, p.batch):
        n = min(p.batch, p.rows - lo)
        rows = np.arange(lo, lo + n, dtype=np.int64)
        # step first: rows * span_us would overflow int64 at 10^7 rows
        opened = start_us + rows * (span_us // p.rows) + rng.integers(0, 1000, n)
        closed = opened + rng.integers(6_000_000, 40_000_000, n)
        refer = rng.random(n) < 0.08
        reason_idx = rng.integers(0, len(REASONS), n)
        attempts = np.where(refer, rng.integers(1, 4, n), 1)
        doc = rng.integers(0, p.documents, n)
        ids = _uuid7(opened // 1000, rng.bytes(10 * n))
        yield (
            ids,
            {
                "opened": opened,
                "closed": closed,
                "refer": refer,
                "reason": reason_idx,
                "attempts": attempts,
                "doc": doc,
                "gate": rng.integers(0, len(GATES), n),
            },
        )


def _uuid7(millis: np.ndarray, random_bytes: bytes) -> list[str]:
    out = []
    for i, ms in enumerate(millis.tolist()):
        r = bytearray(random_bytes[10 * i : 10 * i + 10])
        r[0] = (r[0] & 0x0F) | 0x70
        r[2] = (r[2] & 0x3F) | 0x80
        h = f"{ms:012x}" + r.hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _timestamps(us: np.ndarray) -> list[str]:
    """'YYYY-MM-DD HH:MM:SS.ffffff' (UTC), the text SQLAlchemy stores on SQLite."""
    text_ = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return [t.replace("T", " ") for t in text_.tolist()]


def document(i: int) -> tuple[str, str]:
    return ISSUERS[i % len(ISSUERS)], f"P{i:08d}"


def row_tuples(ids: list[str], c: dict[str, Any]) -> list[tuple[Any, ...]]:
    opened, closed = _timestamps(c["opened"]), _timestamps(c["closed"])
    out = []
    for i, tid in enumerate(ids):
        refer = bool(c["refer"][i])
        issuer, number = document(int(c["doc"][i]))
        reason = REASONS[int(c["reason"][i])] if refer else None
        out.append(
            (
                tid,
                GATES[int(c["gate"][i])],
                opened[i],
                closed[i],
                "referred" if refer else "accepted",
                "refer" if refer else "accept",
                reason,
                "attempts exhausted" if refer else None,
                int(c["attempts"][i]),
                issuer,
                number,
                STEPS_REFER if refer else STEPS_ACCEPT,
            )
        )
    return out


# -- loading -------------------------------------------------------------------------------


def load_sqlite(store: Store, p: Params, progress: Callable[[int], None]) -> None:
    sql = (
        f"INSERT INTO transactions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for ids, cols in batches(p):
            rows = row_tuples(ids, cols)
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(sql, rows)
            cursor.execute("COMMIT")
            progress(len(rows))
    finally:
        raw.close()


def load_postgres(store: Store, p: Params, progress: Callable[[int], None]) -> None:
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for ids, cols in batches(p):
            rows = row_tuples(ids, cols)
            lines = []
            for r in rows:
                fields = ["\\N" if v is None else str(v) for v in r]
                fields[2] += "+00"
                fields[3] += "+00"
                lines.append("\t".join(fields))
            with cursor.copy(f"COPY transactions ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write("\n".join(lines) + "\n")
            raw.commit()
            progress(len(rows))
    finally:
        raw.close()


# -- measuring -----------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times, sizes = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(len(result) if isinstance(result, list) else 1)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 3),
        "repeats": repeats,
        "rows_median": statistics.median(sizes),
    }


def queries(store: Store, p: Params, sample_ids: list[str]) -> dict[str, Any]:
    rnd = random.Random(p.seed + 1)
    span = timedelta(days=p.days)

    def at_random() -> datetime:
        return START + span * rnd.random()

    def by_id() -> Any:
        with store.read() as r:
            return r.transactions.get(rnd.choice(sample_ids))

    def by_gate_hour() -> Any:
        t = at_random()
        q = TransactionQuery(gate_id=rnd.choice(GATES), start=t, end=t + timedelta(hours=1))
        with store.read() as r:
            return r.transactions.search(q)

    def by_document() -> Any:
        issuer, number = document(rnd.randrange(p.documents))
        q = TransactionQuery(document_issuer=issuer, document_number=number)
        with store.read() as r:
            return r.transactions.search(q)

    def refer_watchlist_latest() -> Any:
        q = TransactionQuery(referral_reason=ReferralReason.WATCHLIST, end=at_random(), limit=100)
        with store.read() as r:
            return r.transactions.search(q)

    def counts_per_hour_one_day() -> Any:
        day = START + timedelta(days=rnd.randrange(p.days))
        with store.read() as r:
            return r.transactions.count_by_hour(day, day + timedelta(days=1))

    return {
        "by_id": timed(by_id, p.repeats),
        "by_gate_and_hour": timed(by_gate_hour, p.repeats),
        "by_document": timed(by_document, p.repeats),
        "referrals_by_reason_latest_100": timed(refer_watchlist_latest, p.repeats),
        "decision_counts_per_hour_one_day": timed(counts_per_hour_one_day, max(5, p.repeats // 5)),
    }


def online_writes(store: Store, p: Params) -> dict[str, Any]:
    """Inserts into the full, indexed table: the API path, one commit per transaction
    (transaction + DECISION audit record + idempotency record, via run_idempotent)."""
    n = 300
    latencies = []
    base = START + timedelta(days=p.days)
    for i in range(n):
        rec = TransactionRecord(
            id=str(uuid.uuid4()),
            gate_id=GATES[i % len(GATES)],
            opened_at=base + timedelta(seconds=i),
            state=State.ACCEPTED,
            attempts=1,
            steps=json.loads(STEPS_ACCEPT),
            closed_at=base + timedelta(seconds=i + 9),
            decision=Decision.ACCEPT,
            document_issuer="UTO",
            document_number=f"Q{i:08d}",
        )

        def work(uow: Any, rec: TransactionRecord = rec) -> StoredResponse:
            uow.transactions.save(rec, actor=rec.gate_id)
            return StoredResponse(200, json.dumps({"id": rec.id, "decision": "accept"}))

        t = time.perf_counter()
        store.run_idempotent(rec.gate_id, f"bench-{rec.id}", "fp", work)
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    return {
        "api_write_median_ms": round(statistics.median(latencies), 3),
        "api_write_p90_ms": round(latencies[int(0.9 * (n - 1))], 3),
        "api_writes": n,
        "api_writes_per_s_one_client": round(1000 / statistics.mean(latencies), 1),
    }


def audit_chain(store: Store, n: int) -> dict[str, Any]:
    """Appending to and verifying an audit chain of `n` records (one per decision at
    scale): batched appends (1,000 per commit), single-append commits, full verify."""
    from egate.audit import AuditAction

    payload = {"gate_id": "G001", "decision": "accept", "reason": None, "attempts": 1}
    t = time.perf_counter()
    for lo in range(0, n, 1000):
        with store.unit_of_work() as uow:
            for i in range(lo, min(n, lo + 1000)):
                uow.audit.append("G001", AuditAction.DECISION, f"tx-{i}", payload)
    batched_s = time.perf_counter() - t
    single = []
    for i in range(200):
        t = time.perf_counter()
        with store.unit_of_work() as uow:
            uow.audit.append("G002", AuditAction.DECISION, f"single-{i}", payload)
        single.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    verdict = store.verify_audit()
    verify_s = time.perf_counter() - t
    return {
        "records": verdict.records,
        "append_batched_records_per_s": round(n / batched_s),
        "append_single_commit_median_ms": round(statistics.median(single), 3),
        "verify_s": round(verify_s, 2),
        "verify_records_per_s": round(verdict.records / verify_s),
        "verify_ok": verdict.ok,
    }


def size_bytes(store: Store, sqlite_path: Path | None) -> int:
    if sqlite_path is not None:
        return sum(f.stat().st_size for f in sqlite_path.parent.glob(sqlite_path.name + "*"))
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_total_relation_size('transactions')")).scalar_one())


def run_backend(name: str, url: str, p: Params, sqlite_path: Path | None) -> dict[str, Any]:
    store = Store(url)
    store.upgrade()
    with store.unit_of_work() as uow:
        for gate in GATES:
            uow.gates.register(gate, "bench hall", actor="bench")
    table = cast(Table, Transaction.__table__)
    indexes = sorted(table.indexes, key=lambda ix: str(ix.name))
    with store.engine.begin() as conn:
        for ix in indexes:
            ix.drop(conn)

    loaded, t0, last = 0, time.perf_counter(), [0.0]

    def progress(n: int) -> None:
        nonlocal loaded
        loaded += n
        now = time.perf_counter() - t0
        if now - last[0] > 15 or loaded == p.rows:
            last[0] = now
            print(
                f"[{name}] {loaded:,}/{p.rows:,} rows, {now:.0f} s, {loaded / now:,.0f} rows/s",
                file=sys.stderr,
                flush=True,
            )

    (load_sqlite if name == "sqlite" else load_postgres)(store, p, progress)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with store.engine.begin() as conn:
        for ix in indexes:
            ix.create(conn)
        conn.execute(text("ANALYZE"))
    index_s = time.perf_counter() - t1
    print(f"[{name}] loaded in {load_s:.0f} s, indexes in {index_s:.0f} s", file=sys.stderr)

    with store.read() as r:
        newest = r.transactions.search(TransactionQuery(limit=1))[0].opened_at
        oldest = r.transactions.search(TransactionQuery(end=START + timedelta(days=1), limit=1))
    if not (oldest and START <= newest <= START + timedelta(days=p.days)):
        sys.exit(f"[{name}] synthetic opened_at out of range: newest {newest}, oldest {oldest}")
    with store.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
        sample_ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM transactions WHERE id > :lo ORDER BY id LIMIT 500"),
                {"lo": "0"},
            )
        ]
        offset = p.rows // 2
        sample_ids += [
            r[0]
            for r in conn.execute(
                text(f"SELECT id FROM transactions ORDER BY id LIMIT 500 OFFSET {offset}")
            )
        ]
    result = {
        "rows": int(total),
        "load_s": round(load_s, 1),
        "load_rows_per_s": round(p.rows / load_s),
        "index_build_s": round(index_s, 1),
        "size_bytes": size_bytes(store, sqlite_path),
        "queries": queries(store, p, sample_ids),
        "online": online_writes(store, p),
    }
    result["audit_verify_ok"] = store.verify_audit().ok
    if p.audit_records:
        result["audit"] = audit_chain(store, p.audit_records)
    store.close()
    return result


def run_audit_only(url: str, p: Params) -> dict[str, Any]:
    store = Store(url)
    store.upgrade()
    result = audit_chain(store, p.audit_records)
    store.close()
    return result


# -- main ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import sqlite3

    import psycopg

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "psycopg": psycopg.__version__,
        "platform": platform.platform(),
    }


@contextmanager
def fresh_database(name: str, args: argparse.Namespace) -> Iterator[tuple[str, Path | None, str]]:
    """(url, sqlite path or None, server version) of an empty database, removed afterwards
    unless --keep: a new SQLite file, or a new schema in the PostgreSQL database."""
    if name == "sqlite":
        path: Path = args.sqlite_path
        for f in path.parent.glob(path.name + "*"):
            f.unlink()
        try:
            yield f"sqlite:///{path}", path, ""
        finally:
            if not args.keep:
                for f in path.parent.glob(path.name + "*"):
                    f.unlink()
        return
    schema = f"egate_bench_{os.getpid()}"
    admin = sqlalchemy.create_engine(args.postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        version = str(conn.execute(text("SHOW server_version")).scalar_one())
    url = (
        make_url(args.postgres_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        yield url, None, version
    finally:
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=120, help="time span of the synthetic rows")
    ap.add_argument("--documents", type=int, default=2_000_000, help="distinct documents")
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--sqlite-path", type=Path, default=REPO / "var" / "bench" / "store.db")
    ap.add_argument("--postgres-url", default=os.environ.get("EGATE_TEST_DATABASE_URL"))
    ap.add_argument(
        "--audit-records",
        type=int,
        default=100_000,
        help="audit chain length for the append/verify timing (0: skip)",
    )
    ap.add_argument(
        "--audit-only",
        action="store_true",
        help="time only the audit chain, on a fresh database, and merge the "
        "figures into an existing --out file",
    )
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    ap.add_argument("--out", type=Path, default=results_path("store.json"))
    args = ap.parse_args()
    p = Params(
        args.rows,
        args.days,
        min(args.documents, args.rows),
        args.batch,
        args.repeats,
        args.seed,
        args.audit_records,
    )

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    need = p.rows * BYTES_PER_ROW
    args.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.sqlite_path.parent).free
    if free < need * len(backends) * 1.2:
        sys.exit(
            f"not enough disk: {free / 1e9:.1f} GB free, about "
            f"{need * len(backends) / 1e9:.1f} GB needed for {p.rows:,} rows"
        )

    if args.audit_only and args.out.exists():
        results: dict[str, Any] = json.loads(args.out.read_text())
        results["audit_params"] = {"audit_records": p.audit_records, "machine": machine()}
    else:
        results = {
            "benchmark": "store",
            "machine": machine(),
            "params": p.__dict__,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "backends": {},
        }
    for name in backends:
        if name == "postgresql" and not args.postgres_url:
            print(
                "skipping postgresql: no --postgres-url / EGATE_TEST_DATABASE_URL", file=sys.stderr
            )
            continue
        if name not in ("sqlite", "postgresql"):
            sys.exit(f"unknown backend {name!r}: use sqlite and/or postgresql")
        with fresh_database(name, args) as (url, sqlite_path, version):
            if args.audit_only:
                results["backends"].setdefault(name, {})["audit"] = run_audit_only(url, p)
            else:
                results["backends"][name] = run_backend(name, url, p, sqlite_path)
            if version:
                results["backends"][name]["server_version"] = version
    stamp = "audit_finished" if args.audit_only else "finished"
    results[stamp] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["backends"], indent=2))


if __name__ == "__main__":
    main()
