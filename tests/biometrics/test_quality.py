"""Capture quality on real photographs and on degraded copies of them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from biometrics.detection import Box
from biometrics.embedding import OnnxEmbedder
from biometrics.images import load_image
from biometrics.pipeline import FaceProcessor
from biometrics.quality import (
    QualityIssue,
    QualityPolicy,
    QualityReport,
    assess,
    exposure,
    eye_distance_px,
    roll_deg,
    sharpness,
    yaw_deg,
)

# Frontal, sharp, well-lit people photos with eyes >= 90 px apart: clean under the
# default (gate) policy, so each degradation below is the only thing wrong.
GOOD = (
    "obama/obama.jpg",
    "obama/obama-1080p.jpg",
    "biden/biden2.jpg",
    "alex_lacamoire/alex_lacamoire2.jpg",
    "rose_leslie/rose_leslie1.jpg",
    "rose_leslie/rose_leslie2.jpg",
)

if TYPE_CHECKING:
    from tests.conftest import FaceImage


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


@pytest.fixture(scope="module")
def gate(embedder: OnnxEmbedder) -> FaceProcessor:
    return FaceProcessor(embedder)


@pytest.fixture(scope="module")
def photo(embedder: OnnxEmbedder) -> FaceProcessor:
    return FaceProcessor(embedder, QualityPolicy.photo())


@pytest.fixture(scope="module")
def good_frames(faces_root: Path) -> list[np.ndarray]:
    return [load_image(faces_root / "people" / name) for name in GOOD]


def _issues(processor: FaceProcessor, image: np.ndarray) -> set[QualityIssue]:
    return set(processor.process(np.ascontiguousarray(image)).quality.issues)


def test_good_frames_pass_the_gate_policy(
    gate: FaceProcessor, good_frames: list[np.ndarray]
) -> None:
    for image in good_frames:
        report = gate.process(image).quality
        assert report.ok, report
        assert report.face_count == 1
        assert report.eye_distance_px is not None
        assert report.eye_distance_px >= 90


def test_group_photos_are_refused_for_multiple_faces(
    photo: FaceProcessor, face_manifest: list[FaceImage]
) -> None:
    groups = [r for r in face_manifest if r.path.parent.name == "group"]
    assert len(groups) == 3
    for row in groups:
        capture = photo.process(row.path)
        assert QualityIssue.MULTIPLE_FACES in capture.quality.issues, row.path
        assert capture.quality.face_count == row.faces
        assert capture.embedding is None


def test_partial_faces_are_cut_off(
    gate: FaceProcessor, photo: FaceProcessor, faces_root: Path
) -> None:
    for name in ("obama_partial_face.jpg", "obama_partial_face2.jpg"):
        for processor in (gate, photo):
            capture = processor.process(faces_root / "hard" / name)
            assert QualityIssue.FACE_CUT_OFF in capture.quality.issues, name
            assert capture.embedding is None


def test_downscaled_face_is_too_far(gate: FaceProcessor, good_frames: list[np.ndarray]) -> None:
    for image in good_frames:
        eyes = gate.process(image).quality.eye_distance_px
        assert eyes is not None
        factor = 65 / eyes  # about 65 px between the eyes: found, but below 90
        small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        report = gate.process(np.ascontiguousarray(small)).quality
        assert QualityIssue.TOO_FAR in report.issues, report
        assert QualityIssue.NO_FACE not in report.issues
        assert QualityIssue.TOO_FAR.message == "Please step closer"


def test_blur_is_detected(gate: FaceProcessor, good_frames: list[np.ndarray]) -> None:
    for image in good_frames:
        report = gate.process(cv2.GaussianBlur(image, (0, 0), 6)).quality
        assert QualityIssue.BLURRED in report.issues, report
        assert report.sharpness is not None
        assert report.sharpness < QualityPolicy().min_sharpness


def test_darkened_frames_are_underexposed_not_blurred(
    gate: FaceProcessor, good_frames: list[np.ndarray]
) -> None:
    for image in good_frames:
        report = gate.process((image * 0.25).astype(np.uint8)).quality
        # Sharpness is contrast-free, so a dim but sharp face gets one message only.
        assert report.issues == (QualityIssue.UNDEREXPOSED,), report


def test_low_contrast_is_not_blurred(gate: FaceProcessor, good_frames: list[np.ndarray]) -> None:
    for image in good_frames:
        flat = (image * 0.4 + 100).astype(np.uint8)
        assert QualityIssue.BLURRED not in gate.process(flat).quality.issues


def test_sharpness_ignores_contrast_and_falls_with_blur() -> None:
    rng = np.random.default_rng(7)
    chip = rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)
    half = (chip // 2).astype(np.uint8)
    assert sharpness(half) == pytest.approx(sharpness(chip), rel=0.05)
    blurred = np.asarray(cv2.GaussianBlur(chip, (0, 0), 2), dtype=np.uint8)
    assert sharpness(blurred) < sharpness(chip) / 10


def test_brightened_frames_are_overexposed(
    gate: FaceProcessor, good_frames: list[np.ndarray]
) -> None:
    image = good_frames[0]
    bright = np.clip(image.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    report = gate.process(bright).quality
    assert QualityIssue.OVEREXPOSED in report.issues, report


def test_blank_frame_has_no_face(gate: FaceProcessor) -> None:
    capture = gate.process(np.full((480, 640, 3), 90, dtype=np.uint8))
    assert capture.quality.issues == (QualityIssue.NO_FACE,)
    assert capture.quality.face_count == 0
    assert capture.box is None
    assert capture.embedding is None


def test_geometry_on_synthetic_landmarks() -> None:
    # dlib order: 0,1 eye on the image's right, 2,3 the other eye, 4 nose base.
    frontal = np.array([[160, 100], [130, 100], [40, 100], [70, 100], [100, 140]], np.float32)
    assert eye_distance_px(frontal) == pytest.approx(90.0)
    assert roll_deg(frontal) == pytest.approx(0.0)
    assert yaw_deg(frontal) == pytest.approx(0.0)
    turned = frontal.copy()
    turned[4, 0] += 0.35 * 90 * math.tan(math.radians(20))
    assert yaw_deg(turned) == pytest.approx(20.0, abs=0.01)
    tilt = math.radians(10)
    rotation = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])
    rolled = ((frontal - 100) @ rotation.T + 100).astype(np.float32)
    assert roll_deg(rolled) == pytest.approx(10.0, abs=0.01)
    assert yaw_deg(rolled) == pytest.approx(0.0, abs=0.01)


def test_assess_reports_each_threshold() -> None:
    landmarks = np.array([[160, 100], [130, 100], [40, 100], [70, 100], [100, 140]], np.float32)
    chip = np.full((150, 150, 3), 128, dtype=np.uint8)
    chip[::2] = 20  # stripes: sharp
    box = Box(20, 40, 180, 200)
    report = assess([box], landmarks, chip, (400, 400), QualityPolicy())
    assert report.ok, report
    far = assess([box], landmarks, chip, (400, 400), QualityPolicy(min_eye_distance_px=120))
    assert far.issues == (QualityIssue.TOO_FAR,)
    cut = assess([box], landmarks, chip, (170, 400), QualityPolicy())
    assert QualityIssue.FACE_CUT_OFF in cut.issues
    flat = assess([box], landmarks, np.full_like(chip, 128), (400, 400), QualityPolicy())
    assert flat.issues == (QualityIssue.BLURRED,)
    assert assess([], None, None, (400, 400), QualityPolicy()) == QualityReport(
        issues=(QualityIssue.NO_FACE,), face_count=0
    )
    assert sharpness(np.full_like(chip, 7)) == 0.0
    assert exposure(np.full_like(chip, 255)) == (255.0, 1.0)


def test_policy_validation_and_presets() -> None:
    with pytest.raises(
        ValueError, match=r"QualityPolicy\.min_eye_distance_px must be positive, got 0"
    ):
        QualityPolicy(min_eye_distance_px=0)
    with pytest.raises(ValueError, match="need 0 <= min_brightness < max_brightness <= 255"):
        QualityPolicy(min_brightness=200, max_brightness=100)
    assert QualityPolicy.bsi().min_eye_distance_px == 120
    assert QualityPolicy.photo().min_eye_distance_px == 20
    assert all(issue.message for issue in QualityIssue)
