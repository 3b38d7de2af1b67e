"""End-to-end 1:1 verification of a 640x480 gate frame against a stored template:
our FaceProcessor vs the plain face_recognition pipeline, same frames, same process.

    .venv/bin/python -m benchmarks.bench_verify_e2e [--rounds 10] [--peer-rounds 3]
        [--threads N] [--faces DIR]

Frames: each photograph of ../shared/faces/people is scaled so the eyes are 110 px apart
(a traveller at a gate: the quality gate wants >= 90 px; pose and sharpness limits are
opened so every frame of these press photos gets a full verification, no early exit) and a
640x480 window is cut around the face (edges replicated where the photo is too small),
saved as JPEG quality 90.
Templates: one per identity, from that identity's first photograph (each pipeline makes
its own template from the same photo; not timed).

Timed per frame, from the JPEG file on disk to the distance:
- ours: `FaceProcessor.process(path)` (decode, coarse-to-fine HOG: first on the frame
  shrunk so a 90 px face shows 28 px between the eyes, again at the 45 px scale only when
  that finds nothing; 5 landmarks at full resolution, chip, quality checks, ONNX
  embedding) + `distance`;
- peer: `face_recognition.load_image_file`, `face_locations` (HOG, its default upsample 1),
  `face_encodings(img, locations)` (dlib's network), `face_distance`.
Passes alternate (ours over all frames, then the peer over all frames; same process, one
after the other) so both see the same load; one warm-up pass each is discarded.
Writes benchmarks/results/verify_e2e.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.machine import cpu_model, results_path
from biometrics import runtime
from biometrics.detection import FaceDetector
from biometrics.embedding import OnnxEmbedder
from biometrics.images import load_image
from biometrics.pipeline import FaceProcessor, distance
from biometrics.quality import QualityPolicy, eye_centres, eye_distance_px

FRAME_W, FRAME_H = 640, 480
EYE_DISTANCE_PX = 110.0
THRESHOLD = 0.6


def gate_frame(detector: FaceDetector, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """`image` (RGB) scaled so the eyes are EYE_DISTANCE_PX apart, in a FRAME_W x FRAME_H
    window with the eye midpoint at (320, 200), borders replicated."""
    boxes = detector.detect(image, min_eye_distance_px=20)
    landmarks = detector.landmarks(image, boxes[0])
    scale = EYE_DISTANCE_PX / eye_distance_px(landmarks)
    left, right = eye_centres(landmarks)
    cx, cy = (left + right) / 2 * scale
    # Affine: scale, then put the eye midpoint at (320, 200).
    m = np.array([[scale, 0, FRAME_W / 2 - cx], [0, scale, 0.42 * FRAME_H - cy]])
    frame: npt.NDArray[np.uint8] = cv2.warpAffine(
        image,
        m,
        (FRAME_W, FRAME_H),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return frame


def make_frames(people: Path, out: Path) -> list[tuple[str, Path, Path]]:
    """(identity, source photo, 640x480 frame JPEG) for every photo in people/<identity>/."""
    detector = FaceDetector()
    frames = []
    for photo in sorted(
        p for p in people.glob("*/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    ):
        frame = gate_frame(detector, load_image(photo))
        path = out / f"{photo.parent.name}__{photo.stem}.jpg"
        cv2.imwrite(
            str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        frames.append((photo.parent.name, photo, path))
    return frames


def one_pass(fn: Callable[[Path], float], paths: list[Path], times: list[float]) -> list[float]:
    """Call `fn` on every frame, appending each call's seconds to `times`; the distances."""
    distances = []
    for p in paths:
        t = time.perf_counter()
        distances.append(fn(p))
        times.append(time.perf_counter() - t)
    return distances


def percentile_ms(times: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(times) * 1000, q)), 2)


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed passes over the frames, ours")
    parser.add_argument("--peer-rounds", type=int, default=3, help="timed passes, face_recognition")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="ONNX Runtime intra-op threads (default: the embedder's; dlib uses 1)",
    )
    parser.add_argument(
        "--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "faces"
    )
    args = parser.parse_args()
    people = args.faces / "people"
    if not people.is_dir():
        sys.exit(f"no face set at {people}: pass --faces DIR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation inside face_recognition_models
        import dlib
        import face_recognition

        onnxruntime = runtime.onnxruntime()
        import PIL

    with tempfile.TemporaryDirectory() as tmp:
        frames = make_frames(people, Path(tmp))
        paths = [f[2] for f in frames]
        # Gate quality (90 px eye distance, sharpness, exposure, inside) with the pose limits
        # opened, so every frame of these press photos is embedded: a full verification each time.
        processor = FaceProcessor(
            OnnxEmbedder(threads=args.threads),
            QualityPolicy(max_yaw_deg=35, max_roll_deg=20, min_sharpness=0.005),
        )
        references: dict[str, Path] = {}
        for identity, photo, _ in frames:
            references.setdefault(identity, photo)
        enrol = FaceProcessor(processor.embedder, QualityPolicy.photo())
        ours_templates: dict[str, npt.NDArray[np.float32]] = {}
        for i, p in references.items():
            template = enrol.process(p).embedding
            assert template is not None, p
            ours_templates[i] = template
        peer_templates = {}
        for i, p in references.items():
            img = face_recognition.load_image_file(p)
            peer_templates[i] = face_recognition.face_encodings(
                img, face_recognition.face_locations(img)
            )[0]
        identity_of = {f[2]: f[0] for f in frames}
        issues = {}
        for p in paths:
            capture = processor.process(p)
            if capture.embedding is None:
                issues[p.name] = [i.value for i in capture.quality.issues]

        def ours(path: Path) -> float:
            capture = processor.process(path)
            if capture.embedding is None:
                return float("nan")
            return distance(capture.embedding, ours_templates[identity_of[path]])

        def peer(path: Path) -> float:
            img = face_recognition.load_image_file(path)
            locations = face_recognition.face_locations(img)
            encodings = face_recognition.face_encodings(img, locations)
            if not encodings:
                return float("nan")
            return float(
                face_recognition.face_distance([peer_templates[identity_of[path]]], encodings[0])[0]
            )

        load_before = os.getloadavg()
        ours_t: list[float] = []
        peer_t: list[float] = []
        one_pass(ours, paths, [])  # warm-up, discarded
        one_pass(peer, paths, [])
        # Alternate passes (ours, then peer) so both see the same load on the shared host.
        for r in range(max(args.rounds, args.peer_rounds)):
            if r < args.rounds:
                ours_d = one_pass(ours, paths, ours_t)
            if r < args.peer_rounds:
                peer_d = one_pass(peer, paths, peer_t)
            print(
                f"pass {r + 1}: ours {len(ours_t)} calls, peer {len(peer_t)} calls", file=sys.stderr
            )
        load_after = os.getloadavg()

    result = {
        "what": "end-to-end 1:1 verification of a 640x480 JPEG frame against a stored template",
        "machine": machine(),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "versions": {
            "dlib": dlib.__version__,
            "onnxruntime": onnxruntime.__version__,
            "face_recognition": importlib.metadata.version("face_recognition"),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "pillow": PIL.__version__,
        },
        "onnx_threads": args.threads,
        "frames": len(paths),
        "calls": {"ours": len(ours_t), "peer": len(peer_t)},
        "ours_ms": {
            "p50": percentile_ms(ours_t, 50),
            "p99": percentile_ms(ours_t, 99),
            "mean": round(statistics.fmean(ours_t) * 1000, 2),
        },
        "peer_ms": {
            "p50": percentile_ms(peer_t, 50),
            "p99": percentile_ms(peer_t, 99),
            "mean": round(statistics.fmean(peer_t) * 1000, 2),
        },
        "frames_without_embedding_ours": issues,
        "peer_no_face": int(np.sum(np.isnan(peer_d))),
        "decisions_at_0.6": {
            "ours_match": int(np.sum(np.array(ours_d) <= THRESHOLD)),
            "peer_match": int(np.sum(np.array(peer_d) <= THRESHOLD)),
        },
        "max_abs_distance_difference": round(
            float(np.nanmax(np.abs(np.array(ours_d) - np.array(peer_d)))), 4
        ),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    result["ratio_p50"] = round(result["peer_ms"]["p50"] / result["ours_ms"]["p50"], 1)
    result["ratio_p99"] = round(result["peer_ms"]["p99"] / result["ours_ms"]["p99"], 1)
    out = results_path("verify_e2e.json")
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps(result, indent=1, default=str))
    print(
        f"p50: ours {result['ours_ms']['p50']} ms, face_recognition {result['peer_ms']['p50']} ms, "
        f"ratio {result['ratio_p50']}x; p99 ratio {result['ratio_p99']}x"
    )


if __name__ == "__main__":
    main()
