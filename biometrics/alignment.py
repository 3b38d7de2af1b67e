"""Alignment: 5 landmarks to the 150x150 chip dlib's face ResNet expects.

`face_chip` equals `dlib.get_face_chip(img, shape, 150, 0.25)` pixel for pixel
(the chip `face_recognition.face_encodings` feeds the network): a similarity
transform fitted from the 5 landmarks to dlib's template, bilinear sampling,
25% padding around the face; pixels outside the image are black.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from biometrics import BiometricsError

CHIP_SIZE: Final = 150
"""Side of the chip in pixels (the ResNet's input)."""

CHIP_PADDING: Final = 0.25
"""Margin around the face template, as a fraction of the face size (dlib's default)."""


class AlignmentError(BiometricsError):
    """Landmarks that cannot define a chip."""

    code: str = "alignment_failed"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot align face: {reason}")


def face_chip(
    image: npt.NDArray[np.uint8], landmarks: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.uint8]:
    """The (150, 150, 3) uint8 RGB chip of the face with 5 `landmarks` ((5, 2) x, y pixels)
    in `image` ((H, W, 3) uint8 RGB, C-contiguous)."""
    import dlib

    return np.asarray(dlib.get_face_chip(image, _shape(landmarks), CHIP_SIZE, CHIP_PADDING))


def chip_corners(landmarks: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """Where the chip's corners lie in the image: (4, 2) float64 (x, y), clockwise from
    top-left. Used to tell whether the face region was cut by the frame border."""
    import dlib

    details = dlib.get_face_chip_details(_shape(landmarks), CHIP_SIZE, CHIP_PADDING)
    rect = details.rect
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    half_w, half_h = rect.width() / 2, rect.height() / 2
    c, s = np.cos(details.angle), np.sin(details.angle)
    offsets = np.array([(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)])
    rotation = np.array([[c, -s], [s, c]])
    corners: npt.NDArray[np.float64] = offsets @ rotation.T + np.array((cx, cy))
    return corners


def _shape(landmarks: npt.NDArray[np.floating[Any]]) -> Any:
    import dlib

    if landmarks.shape != (5, 2):
        raise AlignmentError(f"expected (5, 2) landmarks, got shape {landmarks.shape}")
    if not np.all(np.isfinite(landmarks)):
        raise AlignmentError("landmarks are not finite")
    points = dlib.points([dlib.point(round(float(x)), round(float(y))) for x, y in landmarks])
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    bounds = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    return dlib.full_object_detection(bounds, points)
