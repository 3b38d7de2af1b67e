"""Embedding time per face: dlib's own network vs our ONNX export, same process, same chips.

    .venv/bin/python benchmarks/bench_embedding.py [--rounds 5] [--threads N] [--spin-us US]
        [--faces DIR] [--tune]

Chips are real: every HOG-detected face of ../shared/faces/people aligned with
``dlib.get_face_chip(img, shape5, 150, 0.25)``, cycled to fill a batch of 32 (random noise
chips when the photos are absent; the JSON says which). For batch 1 and batch 32 the two
embedders are timed in alternating rounds (dlib, then ONNX) so both see the same machine
load; warm-up calls are discarded and the medians of all timed calls are reported, per face.
``--spin-us`` is `OnnxEmbedder`'s spin_us (default 0: idle ORT workers sleep, the embedder's
default). ``--tune`` also times ONNX Runtime session variants (thread count, spinning,
optimisation level) to justify the defaults in biometrics/embedding.py.

Writes benchmarks/results/embedding.json with the machine, library versions and load average.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from benchmarks.machine import cpu_model, results_path
from biometrics import runtime
from biometrics.embedding import DlibEmbedder, OnnxEmbedder, export_model

BATCHES = (1, 32)
TARGETS = {1: 30.0, 32: 45.0}  # required dlib/ONNX speed ratio
CALLS = {"dlib": {1: 8, 32: 1}, "onnx": {1: 60, 32: 8}}  # timed calls per round
RESULTS = results_path("embedding.json")


def real_chips(faces: Path) -> np.ndarray | None:
    import dlib
    import face_recognition_models

    paths = sorted(
        p for p in (faces / "people").glob("*/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    if not paths:
        return None
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    chips = []
    for path in paths:
        image = dlib.load_rgb_image(str(path))
        for box in detector(image, 0) or detector(image, 1):
            chips.append(dlib.get_face_chip(image, predictor(image, box), 150, 0.25))
    return np.stack(chips)


def timed_calls(fn: Callable[[], object], calls: int) -> list[float]:
    """Seconds of each of `calls` calls of `fn`."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def per_face_ms(samples: list[float], batch: int) -> dict[str, float]:
    ms = sorted(1e3 * s / batch for s in samples)
    q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return {
        "median": round(q[1], 3),
        "p25": round(q[0], 3),
        "p75": round(q[2], 3),
        "calls": len(ms),
    }


def compare(chips: np.ndarray, rounds: int, threads: int | None, spin_us: int) -> dict[str, Any]:
    dlib_embedder = DlibEmbedder()
    onnx_embedder = OnnxEmbedder(threads=threads, spin_us=spin_us)
    embedders = {"dlib": dlib_embedder.embed, "onnx": onnx_embedder.embed}
    max_diff = float(np.abs(dlib_embedder.embed(chips) - onnx_embedder.embed(chips)).max())
    results: dict[str, Any] = {"max_abs_diff_dlib_vs_onnx": max_diff}
    for batch in BATCHES:
        batch_chips = chips[np.arange(batch) % len(chips)]
        samples: dict[str, list[float]] = {"dlib": [], "onnx": []}
        for embed in embedders.values():
            embed(batch_chips)  # warm-up, discarded
        for _ in range(rounds):
            for name, embed in embedders.items():
                samples[name] += timed_calls(
                    functools.partial(embed, batch_chips), CALLS[name][batch]
                )
        dlib_ms, onnx_ms = per_face_ms(samples["dlib"], batch), per_face_ms(samples["onnx"], batch)
        ratio = dlib_ms["median"] / onnx_ms["median"]
        results[f"batch_{batch}"] = {
            "dlib_ms_per_face": dlib_ms,
            "onnx_ms_per_face": onnx_ms,
            "ratio": round(ratio, 2),
            "target_ratio": TARGETS[batch],
            "target_met": ratio >= TARGETS[batch],
        }
    return results


def tune(chips: np.ndarray, rounds: int) -> dict[str, Any]:
    """ONNX Runtime session variants, ms per face (median), batch 1 and 32."""
    ort = runtime.onnxruntime()

    model = str(export_model())
    cores = len(os.sched_getaffinity(0))
    variants: dict[str, dict[str, Any]] = {
        f"threads={cores}, no spinning (default)": {"threads": cores},
        "threads=1": {"threads": 1},
        f"threads={cores}, spinning 5 us": {"threads": cores, "spin_us": "5"},
        f"threads={cores}, spinning 100 us": {"threads": cores, "spin_us": "100"},
        f"threads={cores}, spinning (ORT default)": {"threads": cores, "spin": "1"},
        f"threads={cores}, basic optimisation": {"threads": cores, "level": "ORT_ENABLE_BASIC"},
        f"threads={cores}, extended optimisation": {
            "threads": cores,
            "level": "ORT_ENABLE_EXTENDED",
        },
        f"threads={cores}, no memory pattern": {"threads": cores, "mem_pattern": False},
    }

    def session(v: dict[str, Any]) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = v["threads"]
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, v.get("level", "ORT_ENABLE_ALL")
        )
        options.enable_mem_pattern = v.get("mem_pattern", True)
        spin = "1" if "spin_us" in v else v.get("spin", "0")
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        if "spin_us" in v:
            options.add_session_config_entry("session.intra_op.spin_duration_us", v["spin_us"])
        options.log_severity_level = 3
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    # One live session at a time: a spinning session's idle workers would otherwise keep
    # burning CPU while the next variant is timed. Rounds alternate the variants.
    out: dict[str, Any] = {}
    for batch in BATCHES:
        feed = {"chips": chips[np.arange(batch) % len(chips)]}
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, v in variants.items():
                live = session(v)
                live.run(None, feed)  # warm-up, discarded
                samples[name] += timed_calls(
                    functools.partial(live.run, None, feed), CALLS["onnx"][batch]
                )
                del live
        out[f"batch_{batch}"] = {
            name: per_face_ms(s, batch)["median"] for name, s in samples.items()
        }
    return out


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def versions() -> dict[str, str]:
    import dlib
    import onnx

    onnxruntime = runtime.onnxruntime()

    return {
        "dlib": dlib.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="ONNX Runtime intra-op threads (default: all cores)",
    )
    parser.add_argument(
        "--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "faces"
    )
    parser.add_argument(
        "--spin-us",
        type=int,
        default=0,
        help="microseconds idle ORT workers spin before sleeping (OnnxEmbedder spin_us)",
    )
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    chips = real_chips(args.faces)
    source = (
        f"{len(chips)} face chips from {args.faces / 'people'}"
        if chips is not None
        else "random noise chips"
    )
    if chips is None:
        chips = np.random.default_rng(0).integers(0, 256, (32, 150, 150, 3), dtype=np.uint8)
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "chips": source,
        "onnx_threads": args.threads or len(os.sched_getaffinity(0)),
        "onnx_spin_us": args.spin_us,
        "rounds": args.rounds,
        "calls_per_round": CALLS,
        "load_average_before": [round(x, 2) for x in load_before],
    }
    report.update(compare(chips, args.rounds, args.threads, args.spin_us))
    if args.tune:
        report["tuning_ms_per_face"] = tune(chips, max(1, args.rounds // 2))
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    print(
        f"chips: {source}; ONNX threads {report['onnx_threads']}, spin {args.spin_us} us;"
        f" load average {load_before[0]:.2f}"
    )
    print(f"max |dlib - onnx| = {report['max_abs_diff_dlib_vs_onnx']:.2g}")
    print(f"{'batch':>5} {'dlib ms/face':>13} {'onnx ms/face':>13} {'ratio':>7} {'target':>7}")
    for batch in BATCHES:
        r = report[f"batch_{batch}"]
        dlib_ms, onnx_ms = r["dlib_ms_per_face"]["median"], r["onnx_ms_per_face"]["median"]
        verdict = "met" if r["target_met"] else "NOT MET"
        print(
            f"{batch:>5} {dlib_ms:>13.2f} {onnx_ms:>13.3f}"
            f" {r['ratio']:>6.1f}x {r['target_ratio']:>6.0f}x {verdict}"
        )
    for batch, variants in report.get("tuning_ms_per_face", {}).items():
        print(f"tuning, {batch} (ms/face):")
        for name, ms in variants.items():
            print(f"  {name:40s} {ms:.3f}")
    after = report["load_average_after"][0]
    print(f"peak RSS {report['peak_rss_mib']} MiB; load average after {after:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=args.out.parent, delete=False, suffix=".tmp") as f:
        json.dump(report, f, indent=1)
    os.replace(f.name, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
