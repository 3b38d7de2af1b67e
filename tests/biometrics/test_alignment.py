"""face_chip against dlib.get_face_chip itself on every photograph of the people set."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from biometrics.alignment import CHIP_SIZE, AlignmentError, chip_corners, face_chip
from biometrics.detection import FaceDetector
from biometrics.images import load_image

if TYPE_CHECKING:
    from tests.conftest import FaceImage


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_chip_equals_dlib_exactly_on_every_people_photo(
    people: list[FaceImage], detector: FaceDetector
) -> None:
    import dlib

    predictor = detector._shape_predictor()
    assert len(people) == 20
    for row in people:
        image = load_image(row.path)
        boxes = detector.detect(image, min_eye_distance_px=20)
        assert boxes, row.path
        # dlib's own pipeline: shape from the predictor, chip from get_face_chip.
        shape = predictor(image, boxes[0].to_dlib())
        expected = np.asarray(dlib.get_face_chip(image, shape, 150, 0.25))
        landmarks = detector.landmarks(image, boxes[0])
        chip = face_chip(image, landmarks)
        assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
        assert chip.dtype == np.uint8
        # Tolerance: none. Every pixel is identical.
        np.testing.assert_array_equal(chip, expected, err_msg=str(row.path))


def test_chip_corners_surround_the_landmarks(
    people: list[FaceImage], detector: FaceDetector
) -> None:
    image = load_image(people[0].path)
    landmarks = detector.landmarks(image, detector.detect(image, min_eye_distance_px=20)[0])
    corners = chip_corners(landmarks)
    assert corners.shape == (4, 2)
    assert (landmarks.min(axis=0) > corners.min(axis=0)).all()
    assert (landmarks.max(axis=0) < corners.max(axis=0)).all()


def test_bad_landmarks_raise() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    with pytest.raises(
        AlignmentError, match=r"expected \(5, 2\) landmarks, got shape \(68, 2\)"
    ) as info:
        face_chip(image, np.zeros((68, 2), dtype=np.float32))
    assert info.value.code == "alignment_failed"
    bad = np.full((5, 2), np.nan, dtype=np.float32)
    with pytest.raises(AlignmentError, match="landmarks are not finite"):
        face_chip(image, bad)
