"""Load generator: N simulated gates run whole transactions against a live server.

Each gate, in a loop until the time or transaction budget is spent: opens a
transaction with a chip portrait (a real photograph of one person from
../shared/faces), submits live captures (another real photograph of the same
person, or of someone else for one transaction in eight) until the gate decides,
reads the decision, and closes it. Every write carries an Idempotency-Key; a 503
(pool full) is retried after its Retry-After with the same key. Each transaction runs
over one HTTP/1.1 connection, with request bodies encoded once at start
(benchmarks/http1.py): the generator runs on the server's cores, and its CPU is
reported beside the server's.

The server is started here as a separate process (`egate serve`) on 127.0.0.1 and
a random free port, against a fresh PostgreSQL database, and is stopped at the end.
`--baseline` runs the same workload against the plain face_recognition pipeline
behind a minimal FastAPI app (benchmarks/baseline_face_recognition_app.py).

    .venv/bin/python benchmarks/load_gates.py --gates 1 16 64 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: import egate from this checkout

from benchmarks.http1 import (  # noqa: E402
    Connection,
    Response,
    TransportError,
    header_lines,
    json_body,
    multipart_body,
)
from benchmarks.machine import cpu_model, results_path  # noqa: E402
from biometrics import runtime  # noqa: E402

FACES = Path(os.environ.get("EGATE_TEST_FACES", REPO.parent / "shared" / "faces"))
ADMIN_TOKEN = "load-admin-" + uuid.uuid4().hex
PG_ADMIN_URL = os.environ.get("EGATE_LOAD_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

# Gate-quality photographs (frontal, eye distance >= 90 px), two per person: the
# first is the chip portrait, the second the live capture.
PAIRS = {
    "obama": ("people/obama/obama.jpg", "people/obama/obama-1080p.jpg"),
    "alex_lacamoire": (
        "people/alex_lacamoire/alex_lacamoire2.jpg",
        "people/alex_lacamoire/alex_lacamoire3.jpg",
    ),
    "rose_leslie": ("people/rose_leslie/rose_leslie1.jpg", "people/rose_leslie/rose_leslie2.jpg"),
}
IMPOSTOR = "people/biden/biden2.jpg"


# -- the server process --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_database() -> tuple[str, str]:
    """A fresh PostgreSQL database for one run: (sqlalchemy url, name)."""
    import psycopg

    name = f"egate_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start_server(
    database_url: str,
    workdir: Path,
    *,
    workers: int,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    baseline: bool = False,
) -> Server:
    port = port or free_port()
    log = workdir / f"server-{port}.log"
    env = {
        **os.environ,
        "EGATE_DATABASE_URL": database_url,
        "EGATE_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
        "EGATE_POLICY_PATH": str(workdir / "policy.json"),
        "EGATE_GALLERY_PATH": str(workdir / "gallery"),
        "EGATE_GATE_RATE_PER_S": "50",
        "EGATE_GATE_BURST": "100",
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    if baseline:
        cmd = [
            sys.executable, "-m", "uvicorn", "baseline_face_recognition_app:app",
            "--app-dir", str(REPO / "benchmarks"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning",
        ]  # fmt: skip
    else:
        cmd = [
            sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers),
        ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return server
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"server not ready in 120 s; see {log}")


# -- workload -------------------------------------------------------------------------


def mrz_for(i: int) -> str:
    from egate.documents import DocumentType, Sex, TravelDocument
    from egate.mrz import format_mrz

    doc = TravelDocument(
        DocumentType.TD3, "P", "UTO", f"L{i:08d}", "ERIKSSON", "ANNA", "UTO",
        date(1980, 1, 1), Sex.FEMALE, date(2035, 1, 1),
    )  # fmt: skip
    return format_mrz(doc)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    verified: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)
    transactions: int = 0
    acknowledged: list[str] = field(default_factory=list)


class Bodies:
    """Every request body of the workload, encoded once: the load generator shares the
    server's cores, so it must not spend them re-encoding photographs."""

    def __init__(self, images: dict[str, bytes]) -> None:
        self.portrait_json: dict[str, bytes] = {}  # person -> JSON text after the MRZ
        self.live: dict[str, tuple[bytes, bytes]] = {}  # image path -> multipart
        self.portrait_form: dict[str, tuple[bytes, bytes]] = {}  # baseline: multipart
        for person, (portrait, live) in PAIRS.items():
            encoded = base64.b64encode(images[portrait]).decode()
            self.portrait_json[person] = f',"portrait":"{encoded}"}}'.encode()
            self.portrait_form[person] = multipart_body(
                {"portrait": ("p.jpg", images[portrait], "image/jpeg")}
            )
            self.live[live] = multipart_body({"image": ("live.jpg", images[live], "image/jpeg")})
        self.live[IMPOSTOR] = multipart_body(
            {"image": ("live.jpg", images[IMPOSTOR], "image/jpeg")}
        )
        self._images = images

    def open(self, person: str, n: int) -> tuple[bytes, bytes]:
        """(Content-Type line, body) opening transaction `n` with `person`'s portrait."""
        ctype, _ = json_body(None)
        return ctype, b'{"mrz":' + json.dumps(mrz_for(n)).encode() + self.portrait_json[person]

    def baseline_capture(self, path: str, reference: str) -> tuple[bytes, bytes]:
        return multipart_body(
            {"image": ("l.jpg", self._images[path], "image/jpeg")}, {"reference": reference}
        )


class Gate:
    think_s = 0.0  # pause before each write: the traveller placing the passport, stepping in

    def __init__(self, connection: Connection, key: str, index: int, stats: Stats) -> None:
        self.connection = connection
        self.headers = header_lines({"X-Gate-Key": key})
        self.index = index
        self.stats = stats

    async def call(
        self,
        name: str,
        method: str,
        path: str,
        body: tuple[bytes, bytes] | None = None,
        *,
        retry_503: bool = True,
    ) -> Response:
        ctype, content = body if body is not None else (b"", b"")
        headers = self.headers + ctype
        if method == "POST":
            headers += b"Idempotency-Key: " + uuid.uuid4().hex.encode() + b"\r\n"
            if self.think_s:
                await asyncio.sleep(self.think_s)
        while True:
            start = time.perf_counter()
            r = await self.connection.request(method, path, headers, content)
            self.stats.latencies[name].append(time.perf_counter() - start)
            self.stats.statuses[name][r.status_code] += 1
            if r.status_code == 503 and retry_503:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                continue
            if r.status_code >= 400:
                self.stats.errors.append(f"{name} {r.status_code} {r.text[:200]}")
            return r

    async def transaction(self, n: int, bodies: Bodies) -> None:
        person = list(PAIRS)[n % len(PAIRS)]
        impostor = n % 8 == 7
        live = bodies.live[IMPOSTOR if impostor else PAIRS[person][1]]
        r = await self.call("open", "POST", "/v1/transactions", bodies.open(person, n))
        if r.status_code != 201:
            return
        txn = r.json()
        self.stats.acknowledged.append(txn["id"])
        while txn["state"] == "capturing":
            r = await self.call("capture", "POST", f"/v1/transactions/{txn['id']}/captures", live)
            if r.status_code != 200:
                return
            answer = r.json()
            if answer["capture"]["distance"] is not None:
                self.stats.verified += 1
            txn = answer["transaction"]
        r = await self.call("decision", "GET", f"/v1/transactions/{txn['id']}")
        self.stats.decisions[str(r.json().get("decision"))] += 1
        await self.call("close", "POST", f"/v1/transactions/{txn['id']}/close")
        self.stats.transactions += 1


# ISO/IEC 19794-5 full-frontal portraits: at least 90 px between the eye centres.
PORTRAIT_EYE_DISTANCE_PX = 90.0


def framed(path: Path, *, portrait: bool = False) -> bytes:
    """The photograph as the gate receives it.

    Live capture: a head-and-shoulders crop around the face (3x the face box, at full
    resolution, so the eye distance is unchanged), JPEG quality 90: gate cameras
    adjust to the traveller's height and send this region, not a wide scene.
    Chip portrait (`portrait=True`): the same crop scaled so the eyes are 90 px apart,
    JPEG quality 75, as a DG2 holds it (chip space keeps portraits small)."""
    import io

    from PIL import Image

    from biometrics.detection import FaceDetector
    from biometrics.images import load_image
    from biometrics.quality import eye_distance_px

    image = load_image(path.read_bytes())
    detector = FaceDetector()
    box = detector.detect(image, min_eye_distance_px=45.0)[0]
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    half = 1.5 * max(box.right - box.left, box.bottom - box.top)
    height, width = image.shape[:2]
    crop = Image.fromarray(
        image[
            max(0, int(cy - half)) : min(height, int(cy + half)),
            max(0, int(cx - half)) : min(width, int(cx + half)),
        ]
    )
    out = io.BytesIO()
    if portrait:
        scale = PORTRAIT_EYE_DISTANCE_PX / eye_distance_px(detector.landmarks(image, box))
        if scale < 1:
            crop = crop.resize(
                (round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS
            )
        crop.save(out, format="JPEG", quality=75)
    else:
        crop.save(out, format="JPEG", quality=90)
    return out.getvalue()


_IMAGES: dict[str, bytes] = {}


def load_images() -> dict[str, bytes]:
    """Every photograph of the workload, framed (computed once per process)."""
    if not _IMAGES:
        lives = {pair[1] for pair in PAIRS.values()} | {IMPOSTOR}
        _IMAGES.update({p: framed(FACES / p) for p in lives})
        _IMAGES.update({pair[0]: framed(FACES / pair[0], portrait=True) for pair in PAIRS.values()})
    return _IMAGES


async def register_gates(url: str, n: int, prefix: str) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        keys = []
        for i in range(n):
            r = await c.post(
                "/v1/gates", json={"id": f"{prefix}-{i}", "location": "load"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )  # fmt: skip
            r.raise_for_status()
            keys.append(r.json()["key"])
        return keys


async def run_gates(
    url: str,
    keys: list[str],
    seconds: float,
    max_transactions: int,
    stats: Stats,
    *,
    baseline: bool = False,
    think_s: float = 0.0,
) -> float:
    bodies = Bodies(load_images())
    host, port = url.removeprefix("http://").rsplit(":", 1)
    counter = iter(range(max_transactions))
    stop_at = time.monotonic() + seconds

    async def gate_loop(i: int, key: str) -> None:
        connection = Connection(host, int(port), timeout_s=60)
        gate = (BaselineGate if baseline else Gate)(connection, key, i, stats)
        gate.think_s = think_s
        try:
            await asyncio.sleep(think_s * i / len(keys))  # stagger the gates' phases
            while time.monotonic() < stop_at:
                n = next(counter, None)
                if n is None:
                    return
                try:
                    await gate.transaction(n, bodies)
                except TransportError as exc:
                    stats.errors.append(f"transport {exc}")
                    await asyncio.sleep(0.5)
                # One connection per transaction, as a real gate has (a traveller takes
                # longer than the server's 5 s keep-alive). It also lets the kernel spread
                # the gates over the workers as they come: a connection kept for the whole
                # run stays with whichever worker accepted it, and at start one worker
                # can accept most of them and leave the other core idle.
                connection.close()
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(gate_loop(i, k) for i, k in enumerate(keys)))
    return time.perf_counter() - start


class BaselineGate(Gate):
    """The same transaction against the baseline app (no auth, no database)."""

    async def transaction(self, n: int, bodies: Bodies) -> None:
        person = list(PAIRS)[n % len(PAIRS)]
        impostor = n % 8 == 7
        live = IMPOSTOR if impostor else PAIRS[person][1]
        r = await self.call("open", "POST", "/transactions", bodies.portrait_form[person])
        if r.status_code != 200:
            return
        # The reference differs per transaction, so this body is built per transaction.
        capture = bodies.baseline_capture(live, r.json()["reference"])
        for _ in range(3):
            r = await self.call("capture", "POST", "/captures", capture)
            if r.status_code != 200:
                return
            answer = r.json()
            if answer["distance"] is not None:
                self.stats.verified += 1
            if answer["match"]:
                break
        self.stats.transactions += 1


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    qs = (
        statistics.quantiles(values, n=100, method="inclusive")
        if len(values) > 1
        else [values[0]] * 99
    )
    return {"p50_ms": qs[49] * 1e3, "p95_ms": qs[94] * 1e3, "p99_ms": qs[98] * 1e3}


def summarise(stats: Stats, elapsed: float) -> dict[str, Any]:
    endpoints = {}
    for name, lat in stats.latencies.items():
        endpoints[name] = {
            "requests": len(lat),
            "per_s": len(lat) / elapsed,
            **percentiles(lat),
            "statuses": {str(k): v for k, v in sorted(stats.statuses[name].items())},
        }
    non_503 = [e for e in stats.errors if " 503 " not in e]
    return {
        "elapsed_s": elapsed,
        "transactions": stats.transactions,
        "verified_captures": stats.verified,
        "verified_per_s": stats.verified / elapsed,
        "decisions": dict(stats.decisions),
        "endpoints": endpoints,
        "errors_other_than_503": len(non_503),
        "error_samples": non_503[:5],
    }


def other_load() -> list[str]:
    """What else was running (this machine is shared): the busiest processes."""
    out = subprocess.run(
        ["ps", "-eo", "pcpu,rss,etime,args", "--sort=-pcpu"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return [line[:160] for line in out[1:9]]


def machine() -> dict[str, Any]:
    import fastapi

    onnxruntime = runtime.onnxruntime()
    import uvicorn

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "onnxruntime": onnxruntime.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    url, name = create_database()
    try:
        yield url
    finally:
        drop_database(name)


def server_cpu_s(server: Server) -> float:
    """CPU seconds (user + system) used so far by the server and its workers."""
    import psutil

    try:
        root = psutil.Process(server.process.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the local PostgreSQL processes (every database: on a
    shared machine this includes other users' queries)."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["name"]):
        if (p.info["name"] or "").startswith("postgres"):
            try:
                t = p.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += t.user + t.system
    return total


def mean_batch(url: str) -> dict[str, float]:
    """Inference batch sizes seen by the worker that answers /metrics (one of them)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        for name in ("egate_inference_batch_size_sum", "egate_inference_batch_size_count"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    count = values.get("egate_inference_batch_size_count", 0.0)
    total = values.get("egate_inference_batch_size_sum", 0.0)
    return {"batches": count, "images": total, "mean_batch": total / count if count else 0.0}


def server_rss_mib(server: Server) -> float:
    """Resident memory of the server and its workers now, MiB."""
    import psutil

    try:
        root = psutil.Process(server.process.pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def run_one(n: int, args: argparse.Namespace, workdir: Path, *, baseline: bool) -> dict[str, Any]:
    with fresh_database() as db:
        server = start_server(
            db, workdir, workers=args.workers, baseline=baseline,
            extra_env={
                "EGATE_INFERENCE_THREADS": str(args.threads),
                "EGATE_INFERENCE_QUEUE": str(args.queue),
                "EGATE_INFERENCE_MAX_BATCH": str(args.max_batch),
            },
        )  # fmt: skip
        try:
            keys = ["-"] * n if baseline else asyncio.run(register_gates(server.url, n, f"g{n}"))
            stats = Stats()
            # Warm-up (discarded): one transaction per worker.
            asyncio.run(
                run_gates(server.url, keys[:1], 5, args.workers * 2, Stats(), baseline=baseline)
            )
            cpu_before, client_before = server_cpu_s(server), time.process_time()
            pg_before = postgres_cpu_s()
            load_before = os.getloadavg()[0]
            elapsed = asyncio.run(
                run_gates(
                    server.url,
                    keys,
                    args.seconds,
                    args.max_transactions,
                    stats,
                    baseline=baseline,
                    think_s=args.think,
                )
            )
            cpu = server_cpu_s(server) - cpu_before
            client_cpu = time.process_time() - client_before
            pg_cpu = postgres_cpu_s() - pg_before
            batch = {} if baseline else mean_batch(server.url)
            rss = server_rss_mib(server)
            summary = summarise(stats, elapsed)
            per_capture = cpu / stats.verified if stats.verified else float("nan")
            return {
                "gates": n,
                "baseline": baseline,
                "think_s": args.think,
                **summary,
                "server_cpu_s": cpu,
                "client_cpu_s": client_cpu,
                "postgres_cpu_ms_per_verified_capture": (
                    pg_cpu / stats.verified * 1e3 if stats.verified else float("nan")
                ),
                "client_cpu_ms_per_verified_capture": (
                    client_cpu / stats.verified * 1e3 if stats.verified else float("nan")
                ),
                # The generator's share of the CPU the run used (server + generator).
                "client_cpu_share": client_cpu / (client_cpu + cpu) if cpu > 0 else float("nan"),
                # Whole transactions (portrait + captures + database) per verified capture:
                # robust to the other helpers' load, unlike wall-clock throughput.
                "server_cpu_ms_per_verified_capture": per_capture * 1e3,
                "loadavg_1min_before": load_before,
                "loadavg_1min_after": os.getloadavg()[0],
                "inference_batches_one_worker": batch,
                "server_rss_mib_at_end": rss,
            }
        finally:
            server.stop()


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'system':<10} {'N':>3} {'endpoint':<9} {'req':>6} {'req/s':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses"
    )
    for row in rows:
        system = ("baseline" if row["baseline"] else "egate") + (
            f"+{row['think_s']:g}s" if row.get("think_s") else ""
        )
        for name, e in row["endpoints"].items():
            print(
                f"{system:<10} {row['gates']:>3} {name:<9} {e['requests']:>6} {e['per_s']:>7.1f} "
                f"{e['p50_ms']:>8.1f} {e['p95_ms']:>8.1f} {e['p99_ms']:>8.1f}  {e['statuses']}"
            )
        print(
            f"{system:<10} {row['gates']:>3} => {row['verified_per_s']:.1f} verified captures/s, "
            f"{row['transactions']} transactions, "
            f"errors other than 503: {row['errors_other_than_503']}, "
            f"server CPU {row['server_cpu_ms_per_verified_capture']:.0f} ms per verified capture "
            f"(PostgreSQL {row.get('postgres_cpu_ms_per_verified_capture', float('nan')):.1f} ms, "
            f"load generator {row['client_cpu_ms_per_verified_capture']:.1f} ms, "
            f"{100 * row['client_cpu_share']:.0f}% of the server's and its CPU), "
            f"load avg {row['loadavg_1min_before']:.1f}->{row['loadavg_1min_after']:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gates", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per N")
    parser.add_argument("--max-transactions", type=int, default=5000, help="per N")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="inference threads per worker")
    parser.add_argument("--queue", type=int, default=24, help="inference queue per worker")
    parser.add_argument("--max-batch", type=int, default=2)  # the server default
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--think", type=float, default=0.0,
        help="seconds each gate waits before each write (0: back to back, measures capacity)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=results_path("load_gates.json"))
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"egate-load-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    info = {
        "machine": machine(),
        "other_processes_at_start": other_load(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    rows = []
    for n in args.gates:
        rows.append(run_one(n, args, workdir, baseline=False))
        print_table(rows[-1:])
        if not args.no_baseline:
            rows.append(run_one(n, args, workdir, baseline=True))
            print_table(rows[-1:])
            ours, base = rows[-2]["verified_per_s"], rows[-1]["verified_per_s"]
            print(
                f"N={n}: egate / baseline verified captures per second = "
                f"{ours / base if base else float('inf'):.2f}x"
            )
    info["other_processes_at_end"] = other_load()
    info["runs"] = rows
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(info, indent=1, default=str))
    print("\nfinal table")
    print_table(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
