"""HOG detection and 5-point landmarks on the real photographs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from biometrics.detection import (
    Box,
    DetectionError,
    DetectorModel,
    FaceDetector,
    detect_faces,
    landmarks5,
)
from biometrics.images import load_image
from biometrics.quality import eye_distance_px

if TYPE_CHECKING:
    from tests.conftest import FaceImage


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def _iou(a: Box, b: Box) -> float:
    w = max(0, min(a.right, b.right) - max(a.left, b.left))
    h = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    return w * h / (a.area + b.area - w * h)


def test_one_face_per_people_photo_in_original_coordinates(
    people: list[FaceImage], detector: FaceDetector
) -> None:
    import dlib

    hog = dlib.get_frontal_face_detector()
    for row in people:
        image = load_image(row.path)
        height, width = image.shape[:2]
        boxes = detector.detect(image, min_eye_distance_px=20)
        assert len(boxes) == 1, row.path
        box = boxes[0]
        assert box.inside(width, height), (row.path, box)
        landmarks = detector.landmarks(image, box)
        assert landmarks.shape == (5, 2)
        assert landmarks.dtype == np.float32
        assert (landmarks[:, 0] >= box.left).all()
        assert (landmarks[:, 0] < box.right).all()
        # The same face dlib finds on the full-resolution frame (its box, mapped back).
        full = [Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in hog(image, 1)]
        # (HOG boxes shift with the pyramid level, hence the loose overlap.)
        assert max(_iou(box, f) for f in full) > 0.5, row.path


def test_only_the_five_point_model_is_used(people: list[FaceImage], detector: FaceDetector) -> None:
    image = load_image(people[0].path)
    box = detector.detect(image, min_eye_distance_px=20)[0]
    assert detector._shape_predictor()(image, box.to_dlib()).num_parts == 5
    assert "68" not in str(detector._predictor_path or "")


def test_landmarks_agree_with_dlib_on_the_same_box(
    people: list[FaceImage], detector: FaceDetector
) -> None:
    image = load_image(people[0].path)
    box = detect_faces(image, min_eye_distance_px=20)[0]
    shape = detector._shape_predictor()(image, box.to_dlib())
    expected = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    np.testing.assert_array_equal(landmarks5(image, box), expected)
    assert 20 < eye_distance_px(expected) < box.width


def test_small_search_distance_finds_a_small_face(faces_root: Path, detector: FaceDetector) -> None:
    image = load_image(faces_root / "people" / "obama" / "obama-240p.jpg")
    assert len(detector.detect(image, min_eye_distance_px=20)) == 1
    # Searching only for large faces shrinks the frame until this 24 px face vanishes.
    assert detector.detect(image, min_eye_distance_px=90) == []


def test_group_photo_finds_several_faces_largest_first(
    faces_root: Path, detector: FaceDetector
) -> None:
    image = load_image(faces_root / "group" / "two_people.jpg")
    boxes = detector.detect(image, min_eye_distance_px=20)
    assert len(boxes) == 2
    assert boxes[0].area >= boxes[1].area


def test_blank_frame_has_no_face(detector: FaceDetector) -> None:
    assert detector.detect(np.full((480, 640, 3), 128, dtype=np.uint8)) == []


def test_bad_input_and_scale() -> None:
    detector = FaceDetector(DetectorModel.HOG)
    with pytest.raises(DetectionError, match=r"expected an \(H, W, 3\) uint8 image") as info:
        detector.detect(np.zeros((10, 10), dtype=np.uint8))
    assert info.value.code == "detection_failed"
    with pytest.raises(DetectionError, match="must be C-contiguous"):
        detector.detect(np.zeros((10, 20, 3), dtype=np.uint8)[:, ::2])
    with pytest.raises(ValueError, match="min_eye_distance_px must be positive, got 0"):
        detector.scale_for(0)
    assert detector.scale_for(1.0) == 2.0  # never enlarged more than twice


def test_box_conventions() -> None:
    box = Box(10, 20, 110, 140)
    assert (box.width, box.height, box.area) == (100, 120, 12000)
    assert box.inside(110, 140)
    assert not box.inside(109, 140)
    rect = box.to_dlib()
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (10, 20, 109, 139)
