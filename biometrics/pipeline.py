"""From an image to a quality-checked face embedding: the per-capture hot path.

    processor = FaceProcessor(OnnxEmbedder())          # once per process
    capture = processor.process(jpeg_bytes)            # per capture
    if capture.quality.ok:
        d = distance(capture.embedding, reference)    # same person when d <= 0.6

Steps: decode (images.py) -> detect on a resized frame (detection.py) -> 5
landmarks of the largest face at full resolution -> 150x150 chip (alignment.py) ->
quality (quality.py) -> embed, only when the capture passes quality.

Detection is coarse to fine. The first pass runs on a frame shrunk so that a face
with the policy's MINIMUM eye distance shows ~`COARSE_EYE_DISTANCE_AT_SCALE_PX` (28 px)
between the eyes, where dlib's HOG still finds every face of the test set
(benchmarks/results/detection_scale.json: recall 1.0 from 24 px up); for the 90 px
default a 640x480 frame is searched at 199x149, about a third of the pixels of the
fine pass. Only when that finds nothing is the frame searched again at the fine
scale, for faces down to `search_eye_distance_px` (default half the minimum): a face
somewhat smaller than allowed is still found and reported TOO_FAR ("Please step
closer") rather than NO_FACE. Either way the box is mapped back to the original
pixels and the landmarks and the chip are computed at full resolution.

Consequence: when the coarse pass finds a face, a second face far smaller than the
minimum (a person well behind the traveller) is not looked for, so it no longer
makes the capture MULTIPLE_FACES; a second face near gate size still does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from biometrics.alignment import face_chip
from biometrics.detection import Box, FaceDetector, Landmarks
from biometrics.images import DEFAULT_MAX_PIXELS, ImageSource, RgbImage, load_image
from biometrics.quality import QualityPolicy, QualityReport, assess

if TYPE_CHECKING:
    from biometrics.embedding import Embedder

COARSE_EYE_DISTANCE_AT_SCALE_PX: Final = 28.0
"""Eye distance (px, in the shrunk frame) of a minimum-size face in the coarse pass:
a little above the detector's floor (`min_eye_distance_at_scale_1`, 26 px) for margin."""

Embedding = npt.NDArray[np.float32]
"""(128,) float32 raw dlib descriptor (not normalised)."""


@dataclass(frozen=True, slots=True, eq=False)
class Capture:
    """One processed image. `box`, `landmarks` and `chip` describe the largest face
    (None when none was found); `faces` lists every face found, largest first;
    `embedding` is set only when `quality.ok`."""

    box: Box | None
    landmarks: Landmarks | None
    quality: QualityReport
    embedding: Embedding | None
    chip: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
    faces: tuple[Box, ...] = ()
    image_size: tuple[int, int] = (0, 0)
    """(width, height) of the decoded image in pixels."""


def coarse_eye_distance_px(policy: QualityPolicy, detector: FaceDetector | None = None) -> float:
    """The `min_eye_distance_px` the coarse detection pass asks the detector for: the
    frame is then shrunk so a face at `policy.min_eye_distance_px` shows
    `COARSE_EYE_DISTANCE_AT_SCALE_PX` between the eyes (28 / 90 = 0.311 by default)."""
    floor = (detector or FaceDetector()).min_eye_distance_at_scale_1
    return policy.min_eye_distance_px * floor / COARSE_EYE_DISTANCE_AT_SCALE_PX


def distance(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
    """Euclidean distance between two (128,) embeddings (float64 arithmetic); lower =
    more alike, dlib's threshold 0.6."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


class FaceProcessor:
    """Image -> `Capture`. Holds the detector and the embedder; create one and reuse it.

    `quality` sets what a good capture is. `search_eye_distance_px` is the smallest
    eye distance the fine detection pass looks for (default: half
    `quality.min_eye_distance_px`); `coarse_eye_distance_px` the first, coarse pass
    (default `coarse_eye_distance_px(quality)`; pass the same value as
    `search_eye_distance_px` to search once, at that scale only).
    `max_pixels` bounds decoded images (see images.load_image).
    """

    def __init__(
        self,
        embedder: Embedder,
        quality: QualityPolicy = QualityPolicy(),  # noqa: B008 - frozen, immutable
        *,
        detector: FaceDetector | None = None,
        search_eye_distance_px: float | None = None,
        coarse_eye_distance_px: float | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.embedder = embedder
        self.quality = quality
        self.detector = detector if detector is not None else FaceDetector()
        self.search_eye_distance_px = (
            search_eye_distance_px
            if search_eye_distance_px is not None
            else quality.min_eye_distance_px / 2
        )
        self.coarse_eye_distance_px = (
            coarse_eye_distance_px
            if coarse_eye_distance_px is not None
            else _coarse_default(quality, self.detector)
        )
        # scale_for validates both values.
        self._fine_scale = self.detector.scale_for(self.search_eye_distance_px)
        # A fine pass that asks for larger faces than the coarse one is the only pass.
        self._coarse_scale = min(
            self.detector.scale_for(self.coarse_eye_distance_px), self._fine_scale
        )
        self.max_pixels = max_pixels

    def process(self, source: ImageSource) -> Capture:
        """Decode, detect, align, check and (when the quality is good) embed one image.

        Raises the images.py errors for undecodable input; a frame without a usable
        face is NOT an error: it comes back with `quality.issues` set."""
        return self.process_batch([source])[0]

    def process_batch(self, sources: Sequence[ImageSource]) -> list[Capture]:
        """`process` for several images, embedding every good chip in ONE embedder call.
        Results are in the order of `sources`; one undecodable image raises."""
        staged = [self._analyse(load_image(s, max_pixels=self.max_pixels)) for s in sources]
        good = [i for i, c in enumerate(staged) if c.quality.ok and c.chip is not None]
        if not good:
            return staged
        chips = np.stack([staged[i].chip for i in good])  # type: ignore[misc]
        vectors = self.embedder.embed(chips)
        for row, i in enumerate(good):
            c = staged[i]
            staged[i] = Capture(
                c.box, c.landmarks, c.quality, vectors[row], c.chip, c.faces, c.image_size
            )
        return staged

    def _analyse(self, image: RgbImage) -> Capture:
        """Everything but the embedding."""
        height, width = image.shape[:2]
        boxes = self.detect(image)
        if not boxes:
            report = assess(boxes, None, None, (width, height), self.quality)
            return Capture(None, None, report, None, image_size=(width, height))
        box = boxes[0]
        landmarks = self.detector.landmarks(image, box)
        chip = face_chip(image, landmarks)
        report = assess(boxes, landmarks, chip, (width, height), self.quality)
        return Capture(box, landmarks, report, None, chip, tuple(boxes), (width, height))

    def detect(self, image: RgbImage) -> list[Box]:
        """Faces in `image` (original pixels, largest first): the coarse pass, then the
        fine pass only when the coarse one found nothing (see the module docstring)."""
        boxes = self.detector.detect_at_scale(image, self._coarse_scale)
        if not boxes and self._fine_scale > self._coarse_scale:
            boxes = self.detector.detect_at_scale(image, self._fine_scale)
        return boxes

    @staticmethod
    def distance(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
        """See module-level `distance`."""
        return distance(a, b)


_coarse_default = coarse_eye_distance_px
