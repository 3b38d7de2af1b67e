"""1:N search at national scale: our ONNX matcher vs numpy vs FAISS IndexFlatIP, one process.

Random unit vectors (d = 128) at each gallery size N, queries in batches of B, k = 10. For each
N, in this order (so that at most one full-size copy of the gallery lives in anonymous memory):

1. our float32 gallery is written straight into its memory map in chunks; the read bandwidth
   of this machine is measured by reducing the mapped gallery with numpy (the fastest of a
   float sum, a float max and an integer or, on 1 and 2 threads, best of 3; again after each
   one-query timing, and the fastest of the three probes counts), which gives the B = 1
   memory floor: gallery bytes / bandwidth. Our CPU search scans the gallery's 8-bit
   codes (140 bytes a template with their terms, against 512 float32 or 256 float16 bytes)
   and re-ranks a few dozen templates exactly, so it can beat that floor; the codes' own
   floor is printed beside it;
2. ours (float32) and numpy (BLAS on the same blocks, top-k by argpartition) at each B;
3. a float16 copy of the gallery: ours at each B, and top-1 agreement with float32;
4. FAISS IndexFlatIP filled from the float32 gallery, which is then deleted; FAISS at each B
   with `distance_compute_blas_threshold` set to whichever of BLAS / SIMD is faster for that B.

Our searcher ranks by Euclidean distance, FAISS by inner product: on unit vectors the order is
the same, and the top-1 agreement is reported. Warm-up runs are discarded; medians are quoted.

    .venv/bin/python benchmarks/bench_matcher.py --sizes 100000 1000000 10000000

Writes benchmarks/results/matcher.json (machine, library versions, every configuration).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import cpu_model, results_path
from biometrics import runtime
from biometrics.matcher import Gallery, GalleryDtype, Searcher
from biometrics.matcher.codes import WIDE, CodesLayout, preferred_layout
from biometrics.matcher.kernel import host_query_range

DIM = 128
K = 10
CHUNK = 262_144  # rows generated / copied at a time (128 MiB float32)
Array = npt.NDArray[Any]


def versions() -> dict[str, str]:
    import faiss

    onnxruntime = runtime.onnxruntime()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "faiss": faiss.__version__,
    }


def unit_vectors(rng: np.random.Generator, n: int) -> Array:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def build_gallery(
    path: Path,
    n: int,
    seed: int,
    layout: CodesLayout,
    dtype: GalleryDtype = GalleryDtype.FLOAT32,
) -> Gallery:
    gallery = Gallery.create(path, DIM, dtype, id_bytes=12, codes_layout=layout)
    rng = np.random.default_rng(seed)
    for start in range(0, n, CHUNK):
        rows = min(CHUNK, n - start)
        gallery.add([f"r{i}" for i in range(start, start + rows)], unit_vectors(rng, rows))
    settle(gallery)
    return gallery


def settle(gallery: Gallery) -> None:
    """Write the new gallery's pages to disk now: left to the kernel's writeback, flushing a
    just-built gallery took one of the two cores during the first timed searches (a 100k
    one-query search ran on 1.0 cores instead of ~1.5)."""
    gallery.flush()
    os.sync()


def copy_gallery(source: Gallery, path: Path, dtype: GalleryDtype) -> Gallery:
    target = Gallery.create(
        path, DIM, dtype, id_bytes=source.id_bytes, codes_layout=source.codes_layout
    )
    for rows, ids in gallery_chunks(source):
        target.add(ids, rows)
    settle(target)
    return target


def gallery_chunks(gallery: Gallery) -> Any:
    """(rows (n, 128) float32, ids) in slot order, one block at a time."""
    for block in gallery.blocks():
        slots = np.arange(block.first_slot, block.first_slot + block.rows.shape[0])
        yield np.asarray(block.rows, dtype=np.float32), gallery.ids_at(slots)


def read_bandwidth(gallery: Gallery) -> float:
    """Bytes/s reading the mapped gallery vectors: the fastest of three numpy reductions (float
    sum, float max, integer or) over the whole mapping, on 1 and 2 threads, best of 3.

    A single kernel can be compute-bound: on a 2-core Xeon numpy's pairwise float sum read
    18.7 GB/s where the float max read 32 GB/s, and a floor taken from the sum was beaten by
    the search itself.
    """
    flat = np.asarray(gallery._vectors).reshape(-1)
    kernels: list[tuple[Callable[[Array], Any], Array]] = [
        (np.add.reduce, flat),
        (np.maximum.reduce, flat),
        (np.bitwise_or.reduce, flat.view(np.uint8)[: flat.nbytes // 8 * 8].view(np.uint64)),
    ]
    best = 0.0
    for kernel, data in kernels:
        for threads in (1, 2):
            parts = np.array_split(data, threads)
            for _ in range(3):
                workers = [threading.Thread(target=kernel, args=(p,)) for p in parts]
                start = time.perf_counter()
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                best = max(best, data.nbytes / (time.perf_counter() - start))
    return best


# Timing window of one configuration (see `timed`).
MIN_WINDOW_S = 1.0
MAX_CALLS = 2000


def timed(
    fn: Callable[[Array], Any], batches: list[Array], budget_s: float
) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds per call over `batches` (cycling): at least 50 calls and
    MIN_WINDOW_S, unless `budget_s` passes first, at most MAX_CALLS.

    The window: 50 one-query searches of 100k templates last ~50 ms, a sample of a shared
    host's moment; their median went from 0.83 to 1.16 ms between three runs of the same code
    on a 2-core Zen 5.

    Warm-up calls (up to 10, or 0.5 s) are discarded: a fresh searcher's first calls map the
    gallery's pages and size its buffers (ours ran ~1.6x slower over its first 25 one-query
    searches of a just-built 100k gallery). A first call longer than 1 s is kept instead, its
    first-run costs being small beside it, so that the slowest configurations at 10M (FAISS
    at B = 64 under load: minutes) are timed at least once without running twice.
    CPU over wall says how many cores a call had: on a shared host a two-thread search that
    got one core shows ~1, not ~2.
    """
    start = time.perf_counter()
    fn(batches[0])
    first = time.perf_counter() - start
    seconds: list[float] = [] if first < 1.0 else [first]
    cpu: list[float] = [] if first < 1.0 else [float("nan")]
    for warm in range(1, 10 if first < 1.0 else 0):
        if time.perf_counter() - start > 0.5:
            break
        fn(batches[warm % len(batches)])
    started = time.perf_counter()
    while not seconds or (
        len(seconds) < MAX_CALLS
        and time.perf_counter() - started < budget_s
        and (len(seconds) < 50 or time.perf_counter() - started < MIN_WINDOW_S)
    ):
        q = batches[len(seconds) % len(batches)]
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(q)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return seconds, cpu


def numpy_search(gallery: Gallery, q: Array) -> Array:
    """Brute force with numpy's BLAS over the same blocks: (B, k) slots, nearest first."""
    best_scores, best_slots = [], []
    for block in gallery.blocks():
        scores = q @ block.rows.T - block.half_sq_norms
        take = min(K, scores.shape[1])
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        best_scores.append(np.take_along_axis(scores, top, 1))
        best_slots.append(top + block.first_slot)
    scores, slots = np.concatenate(best_scores, 1), np.concatenate(best_slots, 1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return np.take_along_axis(slots, order, 1)


def hits_to_slots(hits: list[list[Any]]) -> Array:
    return np.array([[int(h.id[1:]) for h in row] for row in hits])


def summary(seconds: list[float], batch: int, cpu: list[float]) -> dict[str, Any]:
    median = statistics.median(seconds)
    median_cpu = statistics.median([c for c in cpu if c == c] or [float("nan")])
    return {
        "batch": batch,
        "runs": len(seconds),
        "median_ms": round(median * 1e3, 3),
        "min_ms": round(min(seconds) * 1e3, 3),
        "queries_per_s": round(batch / median, 2),
        "cpu_ms": round(median_cpu * 1e3, 3),
        "cores_busy": round(median_cpu / median, 2),
    }


def batches_for(queries: Array, batch: int) -> list[Array]:
    """Distinct batches of `batch` queries (as many as the query set holds, at least one)."""
    return [queries[i : i + batch] for i in range(0, max(len(queries) - batch, 0) + 1, batch)]


def bench_size(n: int, args: argparse.Namespace, out: dict[str, Any]) -> None:
    work = Path(args.workdir) / f"n{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = np.random.default_rng(12345)
    accuracy = args.accuracy_queries if n < 5_000_000 else args.accuracy_queries_large
    queries = unit_vectors(rng, max(accuracy, 64 * 8))
    # Other processes share this host: the load average says how much of it we had.
    row: dict[str, Any] = {"n": n, "k": K, "dim": DIM, "load_average_at_start": os.getloadavg()}

    def log(*parts: object) -> None:
        print(f"[N={n:,}]", *parts, flush=True)

    start = time.perf_counter()
    g32 = build_gallery(work / "f32", n, seed=n, layout=CodesLayout(out["codes_layout"]))
    row["build_f32_s"] = round(time.perf_counter() - start, 2)
    # The floor takes the fastest of three probes: now and after each one-query timing. On a
    # shared 2-core VM single probes read 13.8-42.6 GB/s between runs, and a slow one made the
    # floor easy to meet.
    probes = [read_bandwidth(g32)]
    log(f"built in {row['build_f32_s']} s; read bandwidth {probes[0] / 1e9:.1f} GB/s")

    accuracy_q = queries[:accuracy]
    ours: dict[str, Any] = {}
    top1: dict[str, Array] = {}
    one_query: dict[str, list[float]] = {}
    for dtype in (GalleryDtype.FLOAT32, GalleryDtype.FLOAT16):
        gallery = g32
        if dtype is GalleryDtype.FLOAT16:
            gallery = copy_gallery(g32, work / "f16", dtype)
        with Searcher(gallery, threads=args.threads, narrow_codes=args.narrow_codes) as searcher:
            entry: dict[str, Any] = {
                "gallery_bytes": n * DIM * dtype.numpy.itemsize,
                # What a one-query CPU search streams: the 8-bit codes and three float32 terms
                # a template (scale, zero-point sum, -|g|^2/2); the re-rank reads a few dozen
                # templates more.
                "scan_bytes_b1": n * (DIM + 12),
            }
            for batch in args.batches:
                seconds, cpu = timed(
                    lambda q: searcher.search(q, K), batches_for(queries, batch), args.budget_s
                )
                entry[f"B{batch}"] = summary(seconds, batch, cpu)
                log(f"ours {dtype.value} B={batch}: {entry[f'B{batch}']}")
                if batch == 1:
                    one_query[dtype.value] = seconds
                    probes.append(read_bandwidth(g32))
                    log(f"read bandwidth {probes[-1] / 1e9:.1f} GB/s")
            start = time.perf_counter()
            hits = searcher.search(accuracy_q, K)
            entry["accuracy_batch_s"] = round(time.perf_counter() - start, 3)
            top1[dtype.value] = hits_to_slots(hits)[:, 0]
            if dtype is GalleryDtype.FLOAT32:
                ours_topk = hits_to_slots(hits)
        ours[dtype.value] = entry
        if dtype is GalleryDtype.FLOAT32:
            numpy_entry: dict[str, Any] = {}
            for batch in args.batches:
                seconds, cpu = timed(
                    lambda q: numpy_search(g32, q), batches_for(queries, batch), args.budget_s
                )
                numpy_entry[f"B{batch}"] = summary(seconds, batch, cpu)
                log(f"numpy B={batch}: {numpy_entry[f'B{batch}']}")
            agree = numpy_search(g32, accuracy_q[:256])
            numpy_entry["top10_identical_to_ours"] = float(
                np.mean(np.all(agree == ours_topk[:256], axis=1))
            )
            row["numpy"] = numpy_entry
        else:
            gallery.close()
            shutil.rmtree(work / "f16")
    bandwidth = max(probes)
    row["read_bandwidth_gb_s"] = round(bandwidth / 1e9, 2)
    row["read_bandwidth_probes_gb_s"] = [round(b / 1e9, 2) for b in probes]
    for name, seconds in one_query.items():
        entry = ours[name]
        floor_s = entry["gallery_bytes"] / bandwidth
        entry["floor_ms"] = round(floor_s * 1e3, 3)
        entry["scan_floor_ms"] = round(entry["scan_bytes_b1"] / bandwidth * 1e3, 3)
        entry["B1"]["ratio_to_floor"] = round(statistics.median(seconds) / floor_s, 3)
        entry["B1"]["best_run_ratio_to_floor"] = round(min(seconds) / floor_s, 3)
        log(f"ours {name} B=1 against the floor at {bandwidth / 1e9:.1f} GB/s: {entry['B1']}")
    agreement = float(np.mean(top1["float16"] == top1["float32"]))
    ours["fp16_top1_equal_fp32"] = agreement
    log(f"fp16 top-1 == fp32 top-1 on {agreement:.4%} of {len(accuracy_q)} queries")
    row["ours"] = ours

    row["faiss"] = bench_faiss(g32, queries, accuracy_q, top1["float32"], args, log)
    g32.close()
    gc.collect()
    for name in ("float32", "float16"):
        for batch in args.batches:
            key = f"B{batch}"
            ours[name][key]["ratio_to_faiss"] = round(
                ours[name][key]["queries_per_s"] / row["faiss"][key]["queries_per_s"], 3
            )
    row["load_average_at_end"] = os.getloadavg()
    row["max_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    shutil.rmtree(work, ignore_errors=True)
    out["results"].append(row)


def bench_faiss(
    g32: Gallery,
    queries: Array,
    accuracy_q: Array,
    ours_top1: Array,
    args: argparse.Namespace,
    log: Callable[..., None],
) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(args.threads)
    index = faiss.IndexFlatIP(DIM)
    for rows, _ in gallery_chunks(g32):
        index.add(rows)
    # The gallery files are no longer needed: free their page cache before FAISS runs.
    g32.close()
    shutil.rmtree(g32.path)
    default_threshold = faiss.cvar.distance_compute_blas_threshold
    entry: dict[str, Any] = {}
    for batch in args.batches:
        best: dict[str, Any] | None = None
        # FAISS uses BLAS when the batch has >= threshold queries, its SIMD scan otherwise.
        for threshold, path in ((batch, "blas"), (batch + 1, "simd")):
            faiss.cvar.distance_compute_blas_threshold = threshold
            seconds, cpu = timed(
                lambda q: index.search(q, K), batches_for(queries, batch), args.budget_s
            )
            result = summary(seconds, batch, cpu) | {"path": path, "blas_threshold": threshold}
            log(f"faiss B={batch} {path}: {result}")
            if best is None or result["queries_per_s"] > best["queries_per_s"]:
                best = result
        assert best is not None
        entry[f"B{batch}"] = best
    # Top-1 of the accuracy queries on whichever path was faster for the largest batch.
    largest = entry[f"B{max(args.batches)}"]
    simd = largest["path"] == "simd"
    faiss.cvar.distance_compute_blas_threshold = len(accuracy_q) + 1 if simd else 1
    _, labels = index.search(accuracy_q, 1)
    entry["top1_equal_ours_fp32"] = float(np.mean(labels[:, 0] == ours_top1))
    faiss.cvar.distance_compute_blas_threshold = default_threshold
    index.reset()  # frees the copy of the gallery now, not at the next collection
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--accuracy-queries", type=int, default=2048)
    parser.add_argument(
        "--budget-s", type=float, default=10.0, help="seconds timed per configuration (>= 3 runs)"
    )
    parser.add_argument(
        "--accuracy-queries-large", type=int, default=1024, help="accuracy queries for N >= 5M"
    )
    parser.add_argument(
        "--codes-layout",
        choices=[layout.value for layout in CodesLayout],
        help="the galleries' codes layout (default: this host's, rows where int8 runs on AMX)",
    )
    parser.add_argument(
        "--amx",
        action="store_true",
        help="let ONNX Runtime run int8 products on AMX tiles (default: refused, see "
        "biometrics.runtime); no effect on a CPU without AMX",
    )
    parser.add_argument(
        "--narrow-codes",
        action="store_true",
        help="narrow query codes, those of a CPU without VNNI, even where the host takes wide",
    )
    parser.add_argument("--workdir", default="/tmp/egate-bench-matcher")
    parser.add_argument("--out", default=str(results_path("matcher.json")))
    args = parser.parse_args()
    runtime.load(amx=args.amx)  # before anything else loads ONNX Runtime
    layout = CodesLayout(args.codes_layout) if args.codes_layout else preferred_layout()

    out: dict[str, Any] = {
        "benchmark": "matcher 1:N exact search",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "threads": args.threads,
        # The layout the galleries were created with (this host's unless --codes-layout).
        "codes_layout": layout.value,
        # The query codes the searches took (the host's, kernel.host_query_range).
        "query_codes": "narrow" if args.narrow_codes or host_query_range() != WIDE else "wide",
        # Whether ONNX Runtime's int8 products ran on AMX tiles (--amx, on a CPU with AMX).
        "int8_amx": runtime.int8_uses_amx(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [],
    }
    for n in args.sizes:
        bench_size(n, args, out)
        Path(args.out).write_text(json.dumps(out, indent=1))
    print_table(out)


def print_table(out: dict[str, Any]) -> None:
    layout = out.get("codes_layout", "columns")
    print(
        f"\n{out['machine']['cpu']}, {out['machine']['cores']} cores, threads={out['threads']}, "
        f"codes layout {layout}, query codes {out.get('query_codes', 'wide')}, "
        f"int8 on AMX {'yes' if out.get('int8_amx') else 'no'}"
    )
    print(
        "| N | dtype | B | ours q/s | numpy q/s | FAISS q/s | ours/FAISS | B=1 ms / floor ms "
        "| cores busy, ours / FAISS |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in out["results"]:
        for dtype in ("float32", "float16"):
            entry = row["ours"][dtype]
            for key in [k for k in entry if k.startswith("B") and k[1:].isdigit()]:
                ours, faiss_q = entry[key], row["faiss"][key]
                numpy_q = row["numpy"][key]["queries_per_s"] if dtype == "float32" else "-"
                floor = ""
                if key == "B1":
                    floor = f"{ours['median_ms']:.1f} / {entry['floor_ms']:.1f}"
                    floor += f" = {ours['ratio_to_floor']:.2f}x"
                    if "scan_floor_ms" in entry:
                        floor += f" (codes' floor {entry['scan_floor_ms']:.1f})"
                print(
                    f"| {row['n']:,} | {dtype} | {ours['batch']} | {ours['queries_per_s']:.1f} "
                    f"| {numpy_q} | {faiss_q['queries_per_s']:.1f} ({faiss_q['path']}) "
                    f"| {ours['ratio_to_faiss']:.2f} | {floor} "
                    f"| {ours.get('cores_busy', '-')} / {faiss_q.get('cores_busy', '-')} |"
                )
        print(
            f"| {row['n']:,} | fp16 top-1 == fp32: {row['ours']['fp16_top1_equal_fp32']:.4f}; "
            f"FAISS top-1 == ours: {row['faiss']['top1_equal_ours_fp32']:.4f}; "
            f"numpy top-10 == ours: {row['numpy']['top10_identical_to_ours']:.4f}; "
            f"max RSS {row['max_rss_gib']} GiB{probes_note(row)} |"
        )


def probes_note(row: dict[str, Any]) -> str:
    """The floor's bandwidth beside the range its probes read in the run: on a shared VM they
    differed by up to 2x within one run, and the floor takes the fastest."""
    probes = row.get("read_bandwidth_probes_gb_s")
    if not probes:
        return ""
    return (
        f"; floor at {row['read_bandwidth_gb_s']:.1f} GB/s, the fastest of probes reading "
        f"{min(probes):.1f}-{max(probes):.1f} GB/s"
    )


if __name__ == "__main__":
    main()
