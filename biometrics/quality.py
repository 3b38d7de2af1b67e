"""Capture quality for a gate camera: is this frame good enough to compare?

Checks, each failing as a `QualityIssue` a gate can show the traveller:

- exactly one face (a second person close enough to be found is refused);
- eye distance, between the centres of the two eyes (each the mean of its two
  corner landmarks): at least 90 px by default (ISO/IEC 39794-5 portraits), 120 px
  for BSI TR-03121-3 (border-standards.md, "Capture quality");
- pose: roll from the eye line, yaw from where the nose base sits between the eyes
  (method and limits in `yaw_deg`); pitch is not estimated (5 points cannot
  separate it from face proportions);
- sharpness: variance of the Laplacian of the grey chip divided by the variance of
  the grey chip (150x150, so comparable across faces of different sizes; the ratio
  makes it independent of contrast, so a dim or flat-lit but sharp face is not
  called blurred);
- exposure: mean grey level of the central face region of the chip, and the share
  of clipped (near-white) pixels there;
- the face lies inside the frame (detector box, and the chip's face region).

Thresholds for sharpness and exposure were set on the real photos in
../shared/faces and synthetic blur / darkening of them (tests/biometrics/test_quality.py);
they are a starting point to tune on a real gate camera, not a standard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.alignment import CHIP_PADDING, chip_corners
from biometrics.detection import Box

# dlib 5-point order: 0, 1 outer and inner corner of the eye on the image's right
# (the subject's left eye), 2, 3 outer and inner corner of the other eye, 4 the
# base of the nose.
_IMAGE_RIGHT_EYE: Final = slice(0, 2)
_IMAGE_LEFT_EYE: Final = slice(2, 4)
_NOSE: Final = 4

NOSE_DEPTH_RATIO: Final = 0.35
"""How far the base of the nose stands in front of the eye centres, as a fraction of
the eye distance (generic adult anthropometry: about 21 mm for 61 mm)."""


class QualityIssue(Enum):
    """Why a capture is refused; `.message` is what the gate shows the traveller."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    TOO_FAR = "too_far"
    POSE_YAW = "pose_yaw"
    POSE_ROLL = "pose_roll"
    BLURRED = "blurred"
    UNDEREXPOSED = "underexposed"
    OVEREXPOSED = "overexposed"
    FACE_CUT_OFF = "face_cut_off"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES: Final = {
    QualityIssue.NO_FACE: "Please look at the camera",
    QualityIssue.MULTIPLE_FACES: "One person at a time, please",
    QualityIssue.TOO_FAR: "Please step closer",
    QualityIssue.POSE_YAW: "Please face the camera straight on",
    QualityIssue.POSE_ROLL: "Please hold your head upright",
    QualityIssue.BLURRED: "Please hold still",
    QualityIssue.UNDEREXPOSED: "Too dark: please step into the light",
    QualityIssue.OVEREXPOSED: "Too bright: please step out of the glare",
    QualityIssue.FACE_CUT_OFF: "Please stand in the middle, facing the camera",
}


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """Thresholds for an acceptable capture. Defaults: ISO/IEC 39794-5 eye distance and
    BSI TR-03121-3 roll (border-standards.md); yaw is looser than the standard's 5
    degrees because the 5-landmark estimate is only good to a few degrees."""

    min_eye_distance_px: float = 90.0
    max_yaw_deg: float = 10.0
    max_roll_deg: float = 8.0
    min_sharpness: float = 0.02
    """`sharpness` of the chip: var(Laplacian) / var(grey). On ../shared/faces the
    sharp photos measure 0.019-0.70, the same after GaussianBlur sigma 6 at most 0.008."""
    min_brightness: float = 50.0
    """Mean grey level (0-255) of the chip's central face region."""
    max_brightness: float = 215.0
    max_clipped_fraction: float = 0.25
    """Share of the face region at grey level >= 250 above which a face is overexposed."""

    def __post_init__(self) -> None:
        for name in ("min_eye_distance_px", "max_yaw_deg", "max_roll_deg", "max_clipped_fraction"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"QualityPolicy.{name} must be positive, got {getattr(self, name)}"
                )
        if not 0 <= self.min_brightness < self.max_brightness <= 255:
            raise ValueError(
                f"need 0 <= min_brightness < max_brightness <= 255, got "
                f"{self.min_brightness}, {self.max_brightness}"
            )

    @classmethod
    def bsi(cls) -> QualityPolicy:
        """BSI TR-03121-3 Table 4.3: eye distance at least 120 px."""
        return cls(min_eye_distance_px=120.0)

    @classmethod
    def photo(cls) -> QualityPolicy:
        """For enrolment photos and evaluation sets rather than a gate camera: faces
        down to 20 px between the eyes, yaw up to 30 degrees, roll up to 20."""
        return cls(
            min_eye_distance_px=20.0, max_yaw_deg=30.0, max_roll_deg=20.0, min_sharpness=0.01
        )


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Measurements of the chosen face and the issues found. Measurements are None when
    no face was found."""

    issues: tuple[QualityIssue, ...]
    face_count: int
    eye_distance_px: float | None = None
    yaw_deg: float | None = None
    roll_deg: float | None = None
    sharpness: float | None = None
    brightness: float | None = None

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(issue.message for issue in self.issues)


def eye_centres(
    landmarks: npt.NDArray[np.floating[Any]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(image-left eye centre, image-right eye centre), each (2,) float64 (x, y) px."""
    points = landmarks.astype(np.float64)
    return points[_IMAGE_LEFT_EYE].mean(axis=0), points[_IMAGE_RIGHT_EYE].mean(axis=0)


def eye_distance_px(landmarks: npt.NDArray[np.floating[Any]]) -> float:
    """Distance between the eye centres in pixels."""
    left, right = eye_centres(landmarks)
    return float(np.hypot(*(right - left)))


def roll_deg(landmarks: npt.NDArray[np.floating[Any]]) -> float:
    """In-plane rotation of the eye line, degrees; positive when the image-right eye is lower."""
    left, right = eye_centres(landmarks)
    dx, dy = right - left
    return math.degrees(math.atan2(dy, dx))


def yaw_deg(landmarks: npt.NDArray[np.floating[Any]]) -> float:
    """Left-right head rotation, degrees; positive when the nose points to the image's right.

    Method: undo the roll, then take the horizontal offset `o` of the nose base from
    the midpoint of the eye centres, in units of the eye distance. For a head
    turned by yaw `t` under weak perspective, the eye distance shrinks by cos(t) and
    the nose base, `NOSE_DEPTH_RATIO` eye distances in front of the eyes, moves by
    that depth times sin(t), so `o = NOSE_DEPTH_RATIO * tan(t)` and
    `t = atan(o / NOSE_DEPTH_RATIO)`.

    Limits: the nose depth differs between people by roughly a third, so the angle
    is off by that share; a 1 px landmark error at a 90 px eye distance moves it by
    about 2 degrees; an asymmetric face or a perspective close to the camera reads as
    a few degrees of yaw. It separates a frontal face from a turned head (say 0-5
    versus 20+ degrees), not 4 from 6 degrees.
    """
    left, right = eye_centres(landmarks)
    mid = (left + right) / 2
    dx, dy = right - left
    distance = math.hypot(dx, dy)
    if distance == 0:
        return 0.0
    cos_r, sin_r = dx / distance, dy / distance
    nose = landmarks[_NOSE].astype(np.float64) - mid
    along_eye_line = nose[0] * cos_r + nose[1] * sin_r
    return math.degrees(math.atan(along_eye_line / distance / NOSE_DEPTH_RATIO))


def sharpness(chip: npt.NDArray[np.uint8]) -> float:
    """var(Laplacian) / var(grey) of the chip ((150, 150, 3) uint8); higher = sharper,
    0.0 for a flat chip. Dividing by the grey variance removes the contrast: scaling
    the grey levels by `k` scales both variances by `k**2`, so darkening a sharp face
    does not make it "blurred" (the absolute Laplacian variance fell 16x at 1/4 light)."""
    gray = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float64)
    spread = float(gray.var())
    if spread < 1e-6:
        return 0.0
    return float(cv2.Laplacian(gray, cv2.CV_64F).var()) / spread


def _face_region(chip: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    # The face template fills the chip minus the padding on each side; keep its
    # central part (eyes to mouth), away from hair and background.
    size = chip.shape[0]
    inner = size / (1 + 2 * CHIP_PADDING)
    lo, hi = round((size - inner) / 2 + 0.15 * inner), round((size + inner) / 2 - 0.1 * inner)
    region = cv2.cvtColor(np.ascontiguousarray(chip[lo:hi, lo:hi]), cv2.COLOR_RGB2GRAY)
    return np.asarray(region, dtype=np.uint8)


def exposure(chip: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """(mean grey level 0-255, share of pixels >= 250) over the chip's central face region."""
    face = _face_region(chip)
    return float(face.mean()), float(np.count_nonzero(face >= 250) / face.size)


def face_inside(
    box: Box, landmarks: npt.NDArray[np.floating[Any]], width: int, height: int
) -> bool:
    """Whether the face (detector box, and the face part of the aligned chip) lies
    within a `width` x `height` frame."""
    if not box.inside(width, height):
        return False
    corners = chip_corners(landmarks)
    centre = corners.mean(axis=0)
    # Shrink the chip square to the face template (drop the padding), with 5% slack.
    face = centre + (corners - centre) / (1 + 2 * CHIP_PADDING) * 0.95
    return bool(
        np.all(face >= -0.5)
        and np.all(face[:, 0] <= width - 0.5)
        and np.all(face[:, 1] <= height - 0.5)
    )


def assess(
    boxes: Sequence[Box],
    landmarks: npt.NDArray[np.floating[Any]] | None,
    chip: npt.NDArray[np.uint8] | None,
    frame_size: tuple[int, int],
    policy: QualityPolicy,
) -> QualityReport:
    """Judge a capture. `boxes` are all faces found (largest first); `landmarks` and
    `chip` belong to `boxes[0]` (None when no face); `frame_size` is (width, height)."""
    if not boxes or landmarks is None or chip is None:
        return QualityReport(issues=(QualityIssue.NO_FACE,), face_count=0)
    issues: list[QualityIssue] = []
    if len(boxes) > 1:
        issues.append(QualityIssue.MULTIPLE_FACES)
    if not face_inside(boxes[0], landmarks, *frame_size):
        issues.append(QualityIssue.FACE_CUT_OFF)
    distance = eye_distance_px(landmarks)
    if distance < policy.min_eye_distance_px:
        issues.append(QualityIssue.TOO_FAR)
    yaw, roll = yaw_deg(landmarks), roll_deg(landmarks)
    if abs(yaw) > policy.max_yaw_deg:
        issues.append(QualityIssue.POSE_YAW)
    if abs(roll) > policy.max_roll_deg:
        issues.append(QualityIssue.POSE_ROLL)
    sharp = sharpness(chip)
    if sharp < policy.min_sharpness:
        issues.append(QualityIssue.BLURRED)
    brightness, clipped = exposure(chip)
    if brightness < policy.min_brightness:
        issues.append(QualityIssue.UNDEREXPOSED)
    elif brightness > policy.max_brightness or clipped > policy.max_clipped_fraction:
        issues.append(QualityIssue.OVEREXPOSED)
    return QualityReport(
        issues=tuple(issues),
        face_count=len(boxes),
        eye_distance_px=distance,
        yaw_deg=yaw,
        roll_deg=roll,
        sharpness=sharp,
        brightness=brightness,
    )
