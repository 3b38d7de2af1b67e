"""Per-stage cost of one gate capture (640x480 JPEG, eyes ~110 px apart), in ms.

    .venv/bin/python -m benchmarks.bench_capture_stages [--rounds 5] [--faces DIR]

Stages: decode (load_image = Pillow; cv2.imdecode for comparison), detect (HOG at the
fine scale the pipeline used before coarse-to-fine, and at the coarse scale it uses
now), landmarks (5-point), chip, quality (assess), embed (ONNX, batch 1, 1 thread), and
FaceProcessor.process as a whole. Medians over frames x rounds; one warm-up pass.
Writes benchmarks/results/capture_stages.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.bench_verify_e2e import FRAME_H, FRAME_W, gate_frame
from benchmarks.machine import cpu_model, results_path
from biometrics import runtime
from biometrics.alignment import face_chip
from biometrics.detection import FaceDetector
from biometrics.embedding import OnnxEmbedder
from biometrics.images import load_image
from biometrics.pipeline import FaceProcessor, coarse_eye_distance_px, distance
from biometrics.quality import QualityPolicy, assess


def gate_frames(people: Path) -> list[bytes]:
    """640x480 JPEG (quality 90) gate frames (`bench_verify_e2e.gate_frame`) of every people
    photo."""
    detector = FaceDetector()
    frames = []
    for photo in sorted(people.glob("*/*")):
        frame = gate_frame(detector, load_image(photo))
        ok, data = cv2.imencode(
            ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        assert ok
        frames.append(data.tobytes())
    return frames


def median_ms(fn: Callable[[int], object], n: int, rounds: int) -> float:
    for i in range(n):
        fn(i)
    times = []
    for _ in range(rounds):
        for i in range(n):
            t = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 3)


def interleaved_ms(
    fns: dict[str, Callable[[bytes], object]], frames: list[bytes], rounds: int
) -> dict[str, float]:
    """Median ms per call of each function, calls alternating frame by frame."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds + 1):
        for frame in frames:
            for name, fn in fns.items():
                t = time.perf_counter()
                fn(frame)
                if r:  # round 0 is the warm-up
                    times[name].append(time.perf_counter() - t)
    return {name: round(statistics.median(ts) * 1000, 3) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "faces"
    )
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dlib

        onnxruntime = runtime.onnxruntime()
        import PIL

    frames = gate_frames(args.faces / "people")
    n, rounds = len(frames), args.rounds
    policy = QualityPolicy(max_yaw_deg=35, max_roll_deg=20)
    embedder = OnnxEmbedder(threads=1)
    processor = FaceProcessor(embedder, policy)
    detector = processor.detector
    # The pipeline before coarse-to-fine: one pass at the fine scale.
    single_pass = FaceProcessor(
        embedder, policy, coarse_eye_distance_px=policy.min_eye_distance_px / 2
    )
    images = [load_image(f) for f in frames]
    fine = detector.scale_for(policy.min_eye_distance_px / 2)
    coarse = detector.scale_for(coarse_eye_distance_px(policy))
    boxes = [detector.detect_at_scale(im, coarse)[0] for im in images]
    marks = [detector.landmarks(im, b) for im, b in zip(images, boxes, strict=True)]
    chips = [face_chip(im, m) for im, m in zip(images, marks, strict=True)]

    def imdecode(i: int) -> npt.NDArray[np.uint8]:
        bgr = cv2.imdecode(np.frombuffer(frames[i], np.uint8), cv2.IMREAD_COLOR)
        assert bgr is not None
        return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)

    stages: dict[str, float] = {
        "decode_pillow": median_ms(lambda i: load_image(frames[i]), n, rounds),
        "decode_cv2_imdecode": median_ms(imdecode, n, rounds),
        f"detect_fine_scale_{fine:.3f}": median_ms(
            lambda i: detector.detect_at_scale(images[i], fine), n, rounds
        ),
        f"detect_coarse_scale_{coarse:.3f}": median_ms(
            lambda i: detector.detect_at_scale(images[i], coarse), n, rounds
        ),
        f"detect_fine_scale_{fine:.3f}_rgb_hog": median_ms(
            lambda i: detector._raw_detect(
                np.asarray(
                    cv2.resize(images[i], None, fx=fine, fy=fine, interpolation=cv2.INTER_AREA),
                    dtype=np.uint8,
                )
            ),
            n,
            rounds,
        ),
        "landmarks": median_ms(lambda i: detector.landmarks(images[i], boxes[i]), n, rounds),
        "chip": median_ms(lambda i: face_chip(images[i], marks[i]), n, rounds),
        "quality": median_ms(
            lambda i: assess([boxes[i]], marks[i], chips[i], (FRAME_W, FRAME_H), policy), n, rounds
        ),
        "embed_batch1": median_ms(lambda i: embedder.embed(chips[i][np.newaxis]), n, rounds),
    }
    # The two whole pipelines alternate call by call, so both see the same background load.
    stages.update(
        interleaved_ms(
            {
                "process_total_single_fine_pass": single_pass.process,
                "process_total_coarse_to_fine": processor.process,
            },
            frames,
            rounds,
        )
    )
    # Same decisions? Embedding distance between the two detection schemes, per frame.
    drift = []
    for f in frames:
        a, b = processor.process(f), single_pass.process(f)
        assert a.quality.issues == b.quality.issues, (a.quality, b.quality)
        if a.embedding is not None and b.embedding is not None:
            drift.append(distance(a.embedding, b.embedding))
    result: dict[str, Any] = {
        "what": "median ms per stage of one 640x480 gate capture (eyes ~110 px apart)",
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "versions": {
            "dlib": dlib.__version__,
            "onnxruntime": onnxruntime.__version__,
            "opencv": cv2.__version__,
            "pillow": PIL.__version__,
            "numpy": np.__version__,
        },
        "frames": n,
        "rounds": rounds,
        "stages_ms": stages,
        "coarse_vs_fine_embedding_distance": {
            "frames": len(drift),
            "max": round(max(drift), 4),
            "median": round(statistics.median(drift), 4),
        },
    }
    out = results_path("capture_stages.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
