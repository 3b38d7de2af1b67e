"""1:1 verification against numpy.linalg.norm, and both 1:1 and 1:N on real dlib descriptors of
the people photographs (computed here with face_recognition, 5-point landmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from biometrics.matcher import (
    DimensionMismatch,
    Gallery,
    GalleryDtype,
    InvalidArgument,
    NonFiniteValue,
    Provider,
    ProviderUnavailable,
    Searcher,
    Verifier,
    verify,
)

DIM = 128


@pytest.fixture(scope="module")
def descriptors(people: list) -> tuple[list[str], np.ndarray]:  # type: ignore[type-arg]
    """(identity per photo, (n, 128) float32) for every people photo with one detected face."""
    import face_recognition

    names, vectors = [], []
    for face in people:
        image = face_recognition.load_image_file(str(face.path))
        found = face_recognition.face_encodings(image, model="small")
        if len(found) == 1:
            names.append(face.identities[0])
            vectors.append(found[0])
    assert len(vectors) >= 15, "too few faces found in the people photographs"
    return names, np.asarray(vectors, np.float32)


def test_distances_equal_numpy_norm() -> None:
    rng = np.random.default_rng(0)
    live = rng.normal(0, 0.12, (257, DIM)).astype(np.float32)
    templates = rng.normal(0, 0.12, (257, DIM)).astype(np.float32)
    templates[:10] = live[:10]
    result = verify(live, templates, threshold=1.6)
    expected = np.linalg.norm(live - templates, axis=1)
    np.testing.assert_allclose(result.distances, expected, atol=1e-5)
    assert result.distances.dtype == np.float32
    np.testing.assert_array_equal(result.matches, result.distances <= 1.6)
    assert result.distances[:10].tolist() == [0.0] * 10
    assert 0 < result.matches.sum() < 257


@settings(max_examples=50, deadline=None)
@given(
    pairs=arrays(
        np.float32,
        st.tuples(st.integers(1, 8), st.just(2), st.just(DIM)),
        elements=st.floats(-4, 4, width=32),
    ),
    threshold=st.floats(0, 10),
)
def test_any_finite_pairs_match_numpy(pairs: np.ndarray, threshold: float) -> None:
    result = verify(pairs[:, 0], pairs[:, 1], threshold)
    expected = np.linalg.norm(pairs[:, 0].astype(np.float64) - pairs[:, 1], axis=1)
    np.testing.assert_allclose(result.distances, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.matches, result.distances <= np.float32(threshold))


def test_empty_batch() -> None:
    result = verify(np.zeros((0, DIM)), np.zeros((0, DIM)))
    assert result.distances.shape == (0,)
    assert result.matches.shape == (0,)


def test_verify_errors_carry_the_offending_value() -> None:
    a = np.zeros((2, DIM), np.float32)
    with pytest.raises(
        DimensionMismatch, match=r"templates: expected shape \(2, 128\) like live, got \(3, 128\)"
    ):
        verify(a, np.zeros((3, DIM), np.float32))
    with pytest.raises(DimensionMismatch, match=r"live: expected shape \(n, 128\), got \(2, 64\)"):
        verify(np.zeros((2, 64)), a)
    bad = a.copy()
    bad[1, 0] = np.inf
    with pytest.raises(NonFiniteValue, match="templates: row 1 holds a non-finite value inf"):
        verify(a, bad)
    for threshold in (-1.0, float("nan"), "0.6"):
        with pytest.raises(InvalidArgument, match="threshold=") as caught:
            verify(a, a, threshold)  # type: ignore[arg-type]
        assert caught.value.value is threshold


def test_cuda_verifier_absent_is_typed() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is present")
    with pytest.raises(ProviderUnavailable, match="CUDAExecutionProvider"):
        Verifier(Provider.CUDA)


# ---- real descriptors ------------------------------------------------------------------------


def test_real_pairs_equal_numpy_and_separate_people(
    descriptors: tuple[list[str], np.ndarray],
) -> None:
    names, vectors = descriptors
    i, j = np.triu_indices(len(vectors), k=1)
    result = verify(vectors[i], vectors[j])
    np.testing.assert_allclose(
        result.distances, np.linalg.norm(vectors[i] - vectors[j], axis=1), atol=1e-5
    )
    same = np.array([names[a] == names[b] for a, b in zip(i, j, strict=True)])
    # dlib's descriptor at 0.6: genuine pairs mostly match, impostor pairs almost never do.
    assert result.matches[same].mean() > 0.9
    assert result.matches[~same].mean() < 0.02


@pytest.mark.parametrize("dtype", list(GalleryDtype))
def test_real_descriptors_search_equals_the_reference(
    tmp_path: Path, descriptors: tuple[list[str], np.ndarray], dtype: GalleryDtype
) -> None:
    names, vectors = descriptors
    ids = [f"{name}#{n}" for n, name in enumerate(names)]
    with Gallery.create(tmp_path / "g", dtype=dtype, block=4) as gallery:
        gallery.add(ids, vectors)
        stored = gallery.get(ids).astype(np.float64)
        hits = Searcher(gallery).search(vectors, k=len(ids) + 3)
    for q, row in enumerate(hits):
        distances = np.linalg.norm(stored - vectors[q].astype(np.float64), axis=1)
        order = np.argsort(distances, kind="stable")
        assert [h.id for h in row] == [ids[o] for o in order]
        np.testing.assert_allclose(
            [h.distance for h in row], distances[order], rtol=1e-12, atol=1e-12
        )


def test_real_watchlist_search_finds_the_same_person(
    tmp_path: Path, descriptors: tuple[list[str], np.ndarray]
) -> None:
    names, vectors = descriptors
    # Enrol the first photo of each person; probe with all the others.
    first = {name: n for n, name in reversed(list(enumerate(names)))}
    probes = [n for n in range(len(names)) if first[names[n]] != n]
    with Gallery.create(tmp_path / "g") as gallery:
        gallery.add(list(first), vectors[list(first.values())])
        hits = Searcher(gallery).search(vectors[probes], k=3, threshold=0.6)
    top = [row[0].id if row else None for row in hits]
    assert np.mean([t == names[p] for t, p in zip(top, probes, strict=True)]) > 0.9


def test_threshold_from_a_target_fmr(descriptors: tuple[list[str], np.ndarray]) -> None:
    evaluation = pytest.importorskip(
        "biometrics.evaluation", reason="capture's evaluation module not landed"
    )
    from biometrics.matcher import threshold_at_fmr

    names, vectors = descriptors
    i, j = np.triu_indices(len(vectors), k=1)
    same = np.array([names[a] == names[b] for a, b in zip(i, j, strict=True)])
    distances = verify(vectors[i], vectors[j]).distances.astype(np.float64)
    genuine, impostor = distances[same], distances[~same]
    threshold = threshold_at_fmr(genuine, impostor, 0.01)
    assert threshold == evaluation.threshold_for_fmr(genuine, impostor, 0.01)
    result = verify(vectors[i][~same], vectors[j][~same], threshold)
    assert result.matches.mean() <= 0.01
