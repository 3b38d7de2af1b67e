"""ONNX embedder against dlib itself on every face of the people set, plus the model cache,
provider selection and input validation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from biometrics.embedding import (
    DlibEmbedder,
    InvalidChips,
    ModelLoadError,
    OnnxEmbedder,
    Provider,
    ProviderUnavailable,
    check_chips,
    default_weights,
    export_model,
    model_filename,
    weights_digest,
)

TOLERANCE = 1e-4  # max abs difference per component; measured ~2e-7


def _chips_of(path: Path) -> list[np.ndarray]:
    """Every HOG-detected face in the image, aligned by dlib from its 5 landmarks."""
    import dlib
    import face_recognition_models

    image = dlib.load_rgb_image(str(path))
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    boxes = detector(image, 0) or detector(image, 1)  # upsample only when the face is small
    return [dlib.get_face_chip(image, predictor(image, box), 150, 0.25) for box in boxes]


@pytest.fixture(scope="module")
def people_chips(people: list) -> np.ndarray:  # type: ignore[type-arg]
    chips: list[np.ndarray] = []
    for face in people:
        found = _chips_of(face.path)
        assert len(found) >= face.faces, f"no face found in {face.path}"
        chips.extend(found)
    return np.stack(chips)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx_embedder(cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=cache)


@pytest.fixture(scope="module")
def dlib_embedder() -> DlibEmbedder:
    return DlibEmbedder()


def test_onnx_equals_dlib_on_every_person_face(
    people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    import dlib
    import face_recognition_models

    model = dlib.face_recognition_model_v1(
        face_recognition_models.face_recognition_model_location()
    )
    expected = np.array(
        [np.asarray(model.compute_face_descriptor(chip, 0)) for chip in people_chips],
        dtype=np.float32,
    )
    got = onnx_embedder.embed(people_chips)
    assert got.shape == (len(people_chips), 128)
    assert got.dtype == np.float32
    max_diff = float(np.abs(got - expected).max())
    print(f"\n{len(people_chips)} faces: max |onnx - dlib| = {max_diff:.3g}")
    assert max_diff <= TOLERANCE


def test_embeddings_are_raw_dlib_descriptors(
    people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    """Not L2-normalised: norms near 1.37, so Euclidean threshold 0.6 applies."""
    norms = np.linalg.norm(onnx_embedder.embed(people_chips), axis=1)
    assert not np.allclose(norms, 1.0, atol=0.05)
    assert 1.0 < float(np.median(norms)) < 2.0


def test_dlib_embedder_matches_dlib_one_by_one(
    people_chips: np.ndarray, dlib_embedder: DlibEmbedder
) -> None:
    import dlib
    import face_recognition_models

    model = dlib.face_recognition_model_v1(
        face_recognition_models.face_recognition_model_location()
    )
    first = np.asarray(model.compute_face_descriptor(people_chips[3], 0), dtype=np.float32)
    batch = dlib_embedder.embed(people_chips[:5])
    assert batch.shape == (5, 128)
    np.testing.assert_allclose(batch[3], first, atol=1e-6)


def test_batches_larger_than_one_run_keep_order(
    people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    order = np.random.default_rng(7).integers(0, len(people_chips), size=150)
    chips = people_chips[order]  # 150 chips: three internal runs of up to 64
    singles = onnx_embedder.embed(people_chips)
    np.testing.assert_allclose(onnx_embedder.embed(chips), singles[order], atol=1e-5)


def test_non_contiguous_chips_are_accepted(
    people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    every_other = people_chips[::2]
    assert not every_other.flags.c_contiguous
    np.testing.assert_allclose(
        onnx_embedder.embed(every_other), onnx_embedder.embed(every_other.copy()), atol=1e-6
    )


@pytest.mark.parametrize("embedder_fixture", ["onnx_embedder", "dlib_embedder"])
def test_empty_batch_gives_empty_embeddings(
    embedder_fixture: str, request: pytest.FixtureRequest
) -> None:
    embedder = request.getfixturevalue(embedder_fixture)
    out = embedder.embed(np.zeros((0, 150, 150, 3), dtype=np.uint8))
    assert out.shape == (0, 128)
    assert out.dtype == np.float32


@pytest.mark.parametrize("embedder_fixture", ["onnx_embedder", "dlib_embedder"])
@pytest.mark.parametrize(
    ("chips", "message"),
    [
        (np.zeros((150, 150, 3), np.uint8), r"wrong shape: .* got shape \(150, 150, 3\)"),
        (np.zeros((1, 150, 150, 4), np.uint8), r"wrong shape: .* got shape \(1, 150, 150, 4\)"),
        (np.zeros((2, 112, 112, 3), np.uint8), r"wrong shape: .* got shape \(2, 112, 112, 3\)"),
        (np.zeros((1, 150, 150, 3), np.float32), r"wrong dtype: .* dtype float32"),
        ([[0]], r"not a numpy array but list"),
    ],
)
def test_bad_chips_are_refused(
    embedder_fixture: str, chips: object, message: str, request: pytest.FixtureRequest
) -> None:
    embedder = request.getfixturevalue(embedder_fixture)
    with pytest.raises(InvalidChips, match=message) as info:
        embedder.embed(chips)
    assert info.value.code == "invalid_chips"


@given(
    st.lists(st.integers(0, 200), min_size=0, max_size=5),
    st.sampled_from(["uint8", "int8", "uint16", "float32", "float64", "bool"]),
)
def test_check_chips_accepts_exactly_n_150_150_3_uint8(shape: list[int], dtype: str) -> None:
    array = np.zeros(shape, dtype=dtype) if np.prod(shape) < 200_000 else np.zeros(0, dtype)
    valid = array.dtype == np.uint8 and array.shape[1:] == (150, 150, 3) and array.ndim == 4
    if valid:
        assert check_chips(array).shape == array.shape
    else:
        with pytest.raises(InvalidChips, match=r"expected \(N, 150, 150, 3\) uint8") as info:
            check_chips(array)
        assert info.value.shape == array.shape
        assert info.value.dtype == str(array.dtype)


def test_cuda_absent_names_the_available_providers() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(
        ProviderUnavailable,
        match=r"CUDAExecutionProvider is unavailable; available: .*CPUExecutionProvider",
    ) as info:
        OnnxEmbedder(Provider.CUDA)
    assert info.value.code == "provider_unavailable"
    assert info.value.requested is Provider.CUDA
    assert "CPUExecutionProvider" in info.value.available


def test_export_reuses_the_cached_model(cache: Path, onnx_embedder: OnnxEmbedder) -> None:
    path = export_model(cache)
    assert path == onnx_embedder.model_path
    assert weights_digest(default_weights()) in path.name
    before = path.stat()
    again = export_model(cache)
    assert again == path
    assert (again.stat().st_mtime_ns, again.stat().st_ino) == (before.st_mtime_ns, before.st_ino)
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temp files left behind


def test_changed_weights_rebuild_the_model(
    tmp_path: Path, cache: Path, people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    weights = tmp_path / "weights.dat"
    shutil.copyfile(default_weights(), weights)
    original = export_model(cache, weights=weights)
    assert original == onnx_embedder.model_path
    data = bytearray(weights.read_bytes())
    # fc_2 record: name, 128, 256, tensor header (2, 256, 128, 1, 1), then 256x128 floats.
    fc_data = data.index(b"fc_2") + 20
    fc = np.frombuffer(data, "<f4", 256 * 128, fc_data)
    data[fc_data : fc_data + fc.nbytes] = (fc * 2).tobytes()  # still valid, other network
    weights.write_bytes(bytes(data))
    rebuilt = export_model(cache, weights=weights)
    assert rebuilt != original
    assert rebuilt.name == model_filename(weights_digest(weights))
    assert original.is_file()
    changed = OnnxEmbedder(model_path=rebuilt).embed(people_chips[:2])
    np.testing.assert_allclose(changed, 2 * onnx_embedder.embed(people_chips[:2]), atol=1e-5)


def test_explicit_model_path_and_threads(cache: Path, people_chips: np.ndarray) -> None:
    one_thread = OnnxEmbedder(model_path=export_model(cache), threads=1)
    default = OnnxEmbedder(cache_dir=cache)
    np.testing.assert_allclose(
        one_thread.embed(people_chips[:3]), default.embed(people_chips[:3]), atol=1e-5
    )


def test_import_loads_no_model() -> None:
    code = (
        "import sys, biometrics.embedding;"
        "print(sorted(m for m in ('onnxruntime', 'dlib', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_cli_export_prints_the_cached_model(cache: Path, onnx_embedder: OnnxEmbedder) -> None:
    from click.testing import CliRunner

    from biometrics.cli import models

    result = CliRunner().invoke(models, ["export", "--dest", str(cache)])
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip()) == onnx_embedder.model_path


def test_cli_export_refuses_a_foreign_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from biometrics.cli import models

    foreign = tmp_path / "photo.dat"
    foreign.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    result = CliRunner().invoke(
        models, ["export", "--dest", str(tmp_path / "c"), "--weights", str(foreign)]
    )
    assert result.exit_code == 1
    assert "dlib_format: dlib file at byte 0: expected loss layer version" in result.output
    assert not (tmp_path / "c").exists()


def test_unloadable_model_path_raises_model_load_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(
        ModelLoadError, match=r"cannot load ONNX model .*bad\.onnx: .*INVALID_PROTOBUF"
    ):
        OnnxEmbedder(model_path=bad)
    with pytest.raises(ModelLoadError, match=r"missing\.onnx: .*NO_SUCHFILE") as info:
        OnnxEmbedder(model_path=tmp_path / "missing.onnx")
    assert info.value.code == "model_load_failed"
    assert info.value.path == tmp_path / "missing.onnx"


def test_damaged_cached_model_is_rebuilt(tmp_path: Path, people_chips: np.ndarray) -> None:
    cached = export_model(tmp_path)
    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 3])  # a truncated cache file
    embedder = OnnxEmbedder(cache_dir=tmp_path)
    assert embedder.model_path == cached
    assert cached.read_bytes() == good
    assert embedder.embed(people_chips[:1]).shape == (1, 128)


def test_one_embedder_serves_several_threads(
    people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = onnx_embedder.embed(people_chips)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(onnx_embedder.embed, [people_chips] * 8))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_spinning_workers_change_speed_not_embeddings(
    cache: Path, people_chips: np.ndarray, onnx_embedder: OnnxEmbedder
) -> None:
    spinning = OnnxEmbedder(cache_dir=cache, threads=2, spin_us=100)
    options = spinning._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.intra_op.spin_duration_us") == "100"
    default = onnx_embedder._session.get_session_options()
    assert default.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    np.testing.assert_allclose(
        spinning.embed(people_chips[:4]), onnx_embedder.embed(people_chips[:4]), atol=1e-6
    )


def test_negative_spin_is_refused(cache: Path) -> None:
    with pytest.raises(ValueError, match=r"spin_us must be >= 0 microseconds, got -1"):
        OnnxEmbedder(cache_dir=cache, spin_us=-1)
