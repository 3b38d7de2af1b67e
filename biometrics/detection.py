"""Face detection (dlib HOG, or dlib's MMOD CNN) and 5-point landmarks.

Scale policy. A gate refuses faces whose eyes are less than 90 px apart
(ISO/IEC 39794-5; see quality.py), so it never needs to find small faces. dlib's
HOG detector scans an 80x80 window and finds faces down to about
`HOG_MIN_EYE_DISTANCE_PX` between the eye centres (measured on ../shared/faces by
benchmarks/bench_detection_scale.py; numbers in /work/notes/capture.md). A caller
says how small a face it wants found (`min_eye_distance_px`); the frame is
resized by `HOG_MIN_EYE_DISTANCE_PX / min_eye_distance_px` before the detector
runs (downscaled when that is below 1: HOG time is proportional to the pixel
count), the boxes are mapped back to the original pixels, and the landmarks are
always predicted on the ORIGINAL frame, so the chip keeps full resolution.

Landmarks come from dlib's 5-point predictor only (two corners of each eye and
the base of the nose); the 68-point model is never used (its licence excludes
commercial use).

Models load on first use inside a `FaceDetector`, never at import. Create one
detector per process and reuse it.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from biometrics import BiometricsError

HOG_MIN_EYE_DISTANCE_PX: Final = 26.0
"""Smallest eye distance (px, in the frame the detector sees) that HOG finds reliably."""

CNN_MIN_EYE_DISTANCE_PX: Final = 26.0
"""Same for the MMOD CNN detector (its window is also about 80 px)."""

MAX_UPSCALE: Final = 2.0
"""A frame is never enlarged more than this for detection (time grows with the square)."""

Landmarks = npt.NDArray[np.float32]
"""(5, 2) float32 (x, y) pixels of the original image, dlib's 5-point order:
0, 1 corners of the eye on the image's left... see `LandmarkIndex`."""


class DetectorModel(Enum):
    """Which dlib face detector runs."""

    HOG = "hog"
    """Histogram of oriented gradients + linear SVM: fast on a CPU, frontal faces."""
    CNN = "cnn"
    """Max-margin object detection CNN: finds more poses, about 100x slower on a CPU."""


class DetectionError(BiometricsError):
    """The detector cannot run on this input."""

    code: str = "detection_failed"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"face detection failed: {reason}")


@dataclass(frozen=True, slots=True)
class Box:
    """A face box in pixels of the ORIGINAL image: `left <= x < right`, `top <= y < bottom`.

    Order is (left, top, right, bottom); face_recognition's order is
    (top, right, bottom, left) with an inclusive right/bottom. A box may reach past
    the image border (a face cut by the frame); see `inside`.
    """

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return self.width * self.height

    def inside(self, width: int, height: int) -> bool:
        """Whether the whole box lies within a `width` x `height` image."""
        return self.left >= 0 and self.top >= 0 and self.right <= width and self.bottom <= height

    def to_dlib(self) -> Any:
        import dlib

        return dlib.rectangle(self.left, self.top, self.right - 1, self.bottom - 1)


class FaceDetector:
    """Owner of the dlib detector and the 5-point shape predictor (loaded lazily, once).

    `model` picks the detector. `predictor_path` / `cnn_model_path` default to the
    files shipped in the `face_recognition_models` package.
    """

    def __init__(
        self,
        model: DetectorModel = DetectorModel.HOG,
        *,
        predictor_path: Path | None = None,
        cnn_model_path: Path | None = None,
    ) -> None:
        self.model = model
        self._predictor_path = predictor_path
        self._cnn_model_path = cnn_model_path
        self._detector: Any = None
        self._predictor: Any = None
        self._lock = threading.Lock()

    @property
    def min_eye_distance_at_scale_1(self) -> float:
        """Smallest eye distance (px) this detector finds in an unscaled frame."""
        if self.model is DetectorModel.HOG:
            return HOG_MIN_EYE_DISTANCE_PX
        return CNN_MIN_EYE_DISTANCE_PX

    def scale_for(self, min_eye_distance_px: float) -> float:
        """The resize factor at which faces with eyes `min_eye_distance_px` apart are found."""
        if not min_eye_distance_px > 0:
            raise ValueError(f"min_eye_distance_px must be positive, got {min_eye_distance_px}")
        scale = min(MAX_UPSCALE, self.min_eye_distance_at_scale_1 / min_eye_distance_px)
        return 1.0 if abs(scale - 1.0) < 0.05 else scale

    def detect(
        self, image: npt.NDArray[np.uint8], *, min_eye_distance_px: float = 40.0
    ) -> list[Box]:
        """Boxes of the faces in `image` ((H, W, 3) uint8 RGB) whose eyes are at least
        about `min_eye_distance_px` apart (smaller ones may be found too), largest first."""
        return self.detect_at_scale(image, self.scale_for(min_eye_distance_px))

    def detect_at_scale(self, image: npt.NDArray[np.uint8], scale: float) -> list[Box]:
        """Run the detector on `image` resized by `scale`; boxes in original pixels."""
        _check_image(image)
        height, width = image.shape[:2]
        frame: npt.NDArray[np.uint8] = image
        if self.model is DetectorModel.HOG:
            # HOG on grey: same faces found on ../shared/faces, ~25% less detection time
            # than dlib's per-channel gradients on RGB (and the resize moves 1 channel).
            frame = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            # INTER_AREA averages when shrinking (no aliasing); bilinear when enlarging.
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            frame = np.asarray(cv2.resize(frame, size, interpolation=interpolation), dtype=np.uint8)
        sx, sy = frame.shape[1] / width, frame.shape[0] / height
        boxes = [_unscale(rect, sx, sy) for rect in self._raw_detect(frame)]
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def landmarks(self, image: npt.NDArray[np.uint8], box: Box) -> Landmarks:
        """The 5 landmarks of the face in `box`, (5, 2) float32 (x, y) original pixels."""
        _check_image(image)
        shape = self._shape_predictor()(image, box.to_dlib())
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def _raw_detect(self, frame: npt.NDArray[np.uint8]) -> list[Any]:
        detector = self._face_detector()
        if self.model is DetectorModel.HOG:
            return list(detector(frame, 0))
        return [d.rect for d in detector(frame, 0)]

    def _face_detector(self) -> Any:
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    self._detector = self._load_detector()
        return self._detector

    def _shape_predictor(self) -> Any:
        if self._predictor is None:
            with self._lock:
                if self._predictor is None:
                    import dlib

                    path = self._predictor_path or Path(
                        _models().pose_predictor_five_point_model_location()
                    )
                    self._predictor = dlib.shape_predictor(str(path))
        return self._predictor

    def _load_detector(self) -> Any:
        import dlib

        if self.model is DetectorModel.HOG:
            return dlib.get_frontal_face_detector()
        path = self._cnn_model_path or Path(_models().cnn_face_detector_model_location())
        return dlib.cnn_face_detection_model_v1(str(path))


_default_detector: FaceDetector | None = None
_default_cnn_detector: FaceDetector | None = None


def default_detector(model: DetectorModel = DetectorModel.HOG) -> FaceDetector:
    """The process-wide detector for `model`, created on first call."""
    global _default_detector, _default_cnn_detector
    if model is DetectorModel.HOG:
        if _default_detector is None:
            _default_detector = FaceDetector(model)
        return _default_detector
    if _default_cnn_detector is None:
        _default_cnn_detector = FaceDetector(model)
    return _default_cnn_detector


def detect_faces(
    image: npt.NDArray[np.uint8],
    *,
    model: DetectorModel = DetectorModel.HOG,
    min_eye_distance_px: float = 40.0,
) -> list[Box]:
    """Face boxes in `image` ((H, W, 3) uint8 RGB), original pixels, largest first."""
    return default_detector(model).detect(image, min_eye_distance_px=min_eye_distance_px)


def landmarks5(image: npt.NDArray[np.uint8], box: Box) -> Landmarks:
    """dlib's 5 landmarks of the face in `box`: (5, 2) float32 (x, y) original pixels."""
    return default_detector().landmarks(image, box)


def _models() -> Any:
    with warnings.catch_warnings():
        # face_recognition_models imports the deprecated pkg_resources.
        warnings.simplefilter("ignore")
        import face_recognition_models

    return face_recognition_models


def _unscale(rect: Any, sx: float, sy: float) -> Box:
    # dlib rectangles are inclusive; ours are exclusive on the right and bottom.
    return Box(
        left=math.floor(rect.left() / sx),
        top=math.floor(rect.top() / sy),
        right=math.ceil((rect.right() + 1) / sx),
        bottom=math.ceil((rect.bottom() + 1) / sy),
    )


def _check_image(image: npt.NDArray[np.uint8]) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DetectionError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if not image.flags.c_contiguous:
        raise DetectionError("image must be C-contiguous (use numpy.ascontiguousarray)")
