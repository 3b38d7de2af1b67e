"""How small can the detection frame be? Recall and time of dlib HOG at several scales.

Reference faces: HOG on the frame enlarged 2x (what face_recognition does with its
default `number_of_times_to_upsample=1`). For each reference face we record its eye
distance (5-point landmarks, full resolution) and whether it is found at each scale;
for each longer-side size N we time detection and count recall.

    .venv/bin/python benchmarks/bench_detection_scale.py [FACES_DIR]

Writes benchmarks/results/detection_scale.json. The face set is small (26 photos,
30 faces found at 2x): a smoke measurement, not an error-rate estimate.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from benchmarks.machine import results_path
from biometrics.detection import Box, FaceDetector
from biometrics.images import load_image
from biometrics.quality import eye_distance_px

SCALES = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0)
LONGER_SIDES = (320, 400, 480, 640, 800, 1024)


def iou(a: Box, b: Box) -> float:
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    inter = max(0, w) * max(0, h)
    return inter / (a.area + b.area - inter)


def found(ref: Box, boxes: list[Box]) -> bool:
    return any(iou(ref, b) > 0.4 for b in boxes)


def timed(
    detector: FaceDetector, image: np.ndarray, scale: float, repeat: int = 3
) -> tuple[float, list[Box]]:
    boxes = detector.detect_at_scale(image, scale)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        detector.detect_at_scale(image, scale)
        times.append(time.perf_counter() - t)
    return statistics.median(times), boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "faces",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "faces",
        help="folder of face photographs, searched recursively (default: ../shared/faces)",
    )
    root = parser.parse_args().faces
    paths = sorted(p for p in root.glob("*/**/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        # Without this, a mistyped folder wrote a results file of zero faces.
        parser.error(f"no .jpg/.jpeg/.png photographs under {root}")
    detector = FaceDetector()
    faces = []  # (path, eye distance, {scale: found})
    sides: dict[int, dict[str, float]] = {
        n: {"ms": 0.0, "found": 0, "found_ge90": 0} for n in LONGER_SIDES
    }
    total_ge90 = 0
    for path in paths:
        image = load_image(path)
        refs = detector.detect_at_scale(image, 2.0)
        ieds = [eye_distance_px(detector.landmarks(image, r)) for r in refs]
        per_scale = {s: detector.detect_at_scale(image, s) for s in SCALES}
        for ref, ied in zip(refs, ieds, strict=True):
            faces.append(
                {
                    "path": str(path.relative_to(root)),
                    "eye_distance_px": round(ied, 1),
                    "found_at": [s for s in SCALES if found(ref, per_scale[s])],
                }
            )
        total_ge90 += sum(ied >= 90 for ied in ieds)
        longer = max(image.shape[:2])
        for n in LONGER_SIDES:
            scale = min(1.0, n / longer)
            ms, boxes = timed(detector, image, scale)
            sides[n]["ms"] += ms * 1000
            sides[n]["found"] += sum(found(r, boxes) for r in refs)
            sides[n]["found_ge90"] += sum(
                found(r, boxes) for r, d in zip(refs, ieds, strict=True) if d >= 90
            )
        print(path.name, image.shape[:2], [round(d) for d in ieds], file=sys.stderr)
    # Smallest eye distance in the scaled frame at which each face is found.
    smallest = sorted(
        min(s * f["eye_distance_px"] for s in f["found_at"]) for f in faces if f["found_at"]
    )
    bins = {}
    for lo in range(16, 64, 4):
        hits = [
            s * f["eye_distance_px"] >= 0
            for f in faces
            for s in SCALES
            if lo <= s * f["eye_distance_px"] < lo + 4 and s in f["found_at"]
        ]
        tries = [1 for f in faces for s in SCALES if lo <= s * f["eye_distance_px"] < lo + 4]
        bins[f"{lo}-{lo + 4}"] = {
            "tries": len(tries),
            "recall": round(len(hits) / len(tries), 3) if tries else None,
        }
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": __import__("os").cpu_count(),
            "python": platform.python_version(),
        },
        "versions": {"dlib": __import__("dlib").__version__, "opencv": cv2.__version__},
        "images": len(paths),
        "faces": len(faces),
        "faces_eye_distance_ge_90": total_ge90,
        "recall_by_scaled_eye_distance_px": bins,
        "smallest_scaled_eye_distance_found_px": [round(s, 1) for s in smallest[:8]],
        "by_longer_side": {
            n: {
                "total_detect_ms": round(v["ms"], 1),
                "recall_all": f"{v['found']}/{len(faces)}",
                "recall_eye_distance_ge_90": f"{v['found_ge90']}/{total_ge90}",
            }
            for n, v in sides.items()
        },
        "faces_detail": faces,
    }
    out = results_path("detection_scale.json")
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "faces_detail"}, indent=1))


if __name__ == "__main__":
    main()
