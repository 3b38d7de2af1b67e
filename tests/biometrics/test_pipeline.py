"""FaceProcessor end to end on the people set: every genuine pair matches, every
impostor pair is rejected at dlib's 0.6 threshold."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from biometrics.embedding import OnnxEmbedder
from biometrics.images import InvalidImage, load_image
from biometrics.pipeline import Capture, FaceProcessor, distance
from biometrics.quality import QualityIssue, QualityPolicy

THRESHOLD = 0.6

if TYPE_CHECKING:
    from tests.conftest import FaceImage


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


@pytest.fixture(scope="module")
def processor(embedder: OnnxEmbedder) -> FaceProcessor:
    return FaceProcessor(embedder, QualityPolicy.photo())


@pytest.fixture(scope="module")
def captures(processor: FaceProcessor, people: list[FaceImage]) -> list[tuple[str, Capture]]:
    return [(row.identities[0], processor.process(row.path)) for row in people]


def test_every_people_photo_gives_an_embedding(
    captures: list[tuple[str, Capture]], people: list[FaceImage]
) -> None:
    assert len(captures) == 20
    for (_identity, capture), row in zip(captures, people, strict=True):
        assert capture.quality.ok, (row.path, capture.quality)
        assert capture.embedding is not None
        assert capture.embedding.shape == (128,)
        assert capture.embedding.dtype == np.float32
        assert capture.chip is not None
        assert capture.chip.shape == (150, 150, 3)
        assert capture.box is not None
        assert capture.landmarks is not None
        assert capture.faces == (capture.box,)


def test_all_genuine_pairs_match_and_all_impostors_are_rejected(
    captures: list[tuple[str, Capture]],
) -> None:
    genuine: list[float] = []
    impostor: list[float] = []
    for (id_a, a), (id_b, b) in itertools.combinations(captures, 2):
        assert a.embedding is not None
        assert b.embedding is not None
        (genuine if id_a == id_b else impostor).append(distance(a.embedding, b.embedding))
    assert (len(genuine), len(impostor)) == (44, 146)
    assert max(genuine) <= THRESHOLD, sorted(genuine)[-3:]
    assert min(impostor) > THRESHOLD, sorted(impostor)[:3]


def test_embedding_is_the_embedder_applied_to_the_chip(
    captures: list[tuple[str, Capture]], embedder: OnnxEmbedder
) -> None:
    _, capture = captures[0]
    assert capture.chip is not None
    direct = embedder.embed(capture.chip[np.newaxis])[0]
    np.testing.assert_array_equal(capture.embedding, direct)


def test_batch_equals_one_by_one(
    processor: FaceProcessor, people: list[FaceImage], faces_root: Path
) -> None:
    sources: list[Path | np.ndarray] = [row.path for row in people[:6]]
    sources.append(faces_root / "group" / "two_people.jpg")  # refused: no embedding
    sources.append(np.full((240, 320, 3), 70, dtype=np.uint8))  # no face
    batch = processor.process_batch(sources)
    assert len(batch) == len(sources)
    for source, got in zip(sources, batch, strict=True):
        single = processor.process(source)
        assert got.box == single.box
        assert got.faces == single.faces
        assert got.quality == single.quality
        if single.chip is not None:
            np.testing.assert_array_equal(got.chip, single.chip)
        if single.embedding is None:
            assert got.embedding is None
        else:
            assert got.embedding is not None
            # One batched ONNX call versus batch-1 calls: same network, float noise only.
            np.testing.assert_allclose(got.embedding, single.embedding, atol=1e-5)
    assert batch[-2].quality.issues == (QualityIssue.MULTIPLE_FACES,)
    assert batch[-1].quality.issues == (QualityIssue.NO_FACE,)


def test_bytes_path_and_array_give_the_same_capture(
    processor: FaceProcessor, people: list[FaceImage]
) -> None:
    path = people[0].path
    from_path = processor.process(path)
    from_bytes = processor.process(path.read_bytes())
    from_array = processor.process(load_image(path))
    for other in (from_bytes, from_array):
        assert other.box == from_path.box
        np.testing.assert_array_equal(other.embedding, from_path.embedding)


def test_undecodable_input_raises(processor: FaceProcessor) -> None:
    with pytest.raises(InvalidImage, match="not a JPEG, PNG or JPEG 2000 image"):
        processor.process(b"garbage")


def test_distance_is_euclidean() -> None:
    a = np.zeros(128, dtype=np.float32)
    b = np.zeros(128, dtype=np.float32)
    b[:2] = (0.3, 0.4)
    assert distance(a, b) == pytest.approx(0.5)
    assert FaceProcessor.distance(a, a) == 0.0


def test_search_distance_is_validated(embedder: OnnxEmbedder) -> None:
    with pytest.raises(ValueError, match="min_eye_distance_px must be positive"):
        FaceProcessor(embedder, search_eye_distance_px=0)


def test_coarse_pass_first_fine_pass_only_when_needed(
    embedder: OnnxEmbedder, faces_root: Path
) -> None:
    gate = FaceProcessor(embedder)  # 90 px minimum: coarse 28/90, fine 26/45
    assert gate._coarse_scale == pytest.approx(28 / 90)
    assert gate._fine_scale == pytest.approx(26 / 45)
    near = load_image(faces_root / "people" / "obama" / "obama-1080p.jpg")  # eyes ~106 px
    boxes = gate.detect(near)
    assert boxes == gate.detector.detect_at_scale(near, gate._coarse_scale)
    assert len(boxes) == 1
    far = load_image(faces_root / "people" / "obama" / "obama-480p.jpg")  # eyes ~48 px
    assert gate.detector.detect_at_scale(far, gate._coarse_scale) == []
    assert gate.detect(far) == gate.detector.detect_at_scale(far, gate._fine_scale)
    capture = gate.process(far)
    assert QualityIssue.TOO_FAR in capture.quality.issues
    assert QualityIssue.NO_FACE not in capture.quality.issues
    # The landmarks are always predicted on the full-resolution frame.
    assert capture.box is not None
    assert capture.landmarks is not None
    np.testing.assert_array_equal(capture.landmarks, gate.detector.landmarks(far, capture.box))


def test_search_larger_than_coarse_is_a_single_pass(embedder: OnnxEmbedder) -> None:
    single = FaceProcessor(embedder, search_eye_distance_px=120)
    assert single._coarse_scale == single._fine_scale
