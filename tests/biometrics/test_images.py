"""load_image on the real photographs and on every kind of bad input."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from biometrics import BiometricsError
from biometrics.images import (
    EmptyImage,
    ImageTooLarge,
    InvalidImage,
    UnsupportedImageFormat,
    decode_image,
    load_image,
)

if TYPE_CHECKING:
    from tests.conftest import FaceImage


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def jpeg_path(faces_root: Path) -> Path:
    return faces_root / "people" / "obama" / "obama.jpg"


@pytest.fixture(scope="module")
def jpeg_bytes(jpeg_path: Path) -> bytes:
    return jpeg_path.read_bytes()


def test_every_manifest_photo_decodes_to_rgb_uint8(face_manifest: list[FaceImage]) -> None:
    assert len(face_manifest) >= 20
    for row in face_manifest:
        image = load_image(row.path)
        with Image.open(row.path) as pil:
            width, height = pil.size
        assert image.dtype == np.uint8
        assert image.shape == (height, width, 3), row.path
        assert image.flags.c_contiguous


def test_jpeg_matches_pillow_rgb(jpeg_path: Path, jpeg_bytes: bytes) -> None:
    expected = np.asarray(Image.open(jpeg_path).convert("RGB"))
    np.testing.assert_array_equal(load_image(jpeg_path), expected)
    np.testing.assert_array_equal(load_image(jpeg_bytes), expected)
    np.testing.assert_array_equal(load_image(str(jpeg_path)), expected)
    np.testing.assert_array_equal(load_image(bytearray(jpeg_bytes)), expected)
    np.testing.assert_array_equal(load_image(memoryview(jpeg_bytes)), expected)


def test_rgb_array_is_returned_without_copy(jpeg_bytes: bytes) -> None:
    image = load_image(jpeg_bytes)
    assert load_image(image) is image


def test_png_roundtrip(faces_root: Path) -> None:
    path = faces_root / "people" / "lin_manuel_miranda" / "lin_manuel_miranda1.png"
    expected = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(load_image(path), expected)


def test_rgba_png_is_composited_over_white(faces_root: Path) -> None:
    path = faces_root / "hard" / "obama_rgba_32bit.png"
    rgba = np.asarray(Image.open(path))
    assert rgba.shape[2] == 4
    image = load_image(path)
    assert image.shape == (*rgba.shape[:2], 3)
    opaque = rgba[:, :, 3] == 255
    np.testing.assert_array_equal(image[opaque], rgba[:, :, :3][opaque])
    transparent = rgba[:, :, 3] == 0
    if transparent.any():
        assert (image[transparent] == 255).all()


def test_synthetic_alpha_blends_towards_white() -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = [[0, 128, 255, 255]] * 4
    image = load_image(_png(rgba))
    np.testing.assert_array_equal(image[:, 0], 255)  # transparent black -> white
    np.testing.assert_array_equal(image[:, 1], 127)  # half black over white
    np.testing.assert_array_equal(image[:, 2], 0)


def test_grayscale_png_is_replicated() -> None:
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    image = load_image(_png(gray))
    assert image.shape == (8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], gray)


def test_16bit_png_keeps_high_byte() -> None:
    wide = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    data = _png(wide)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    image = load_image(data)
    np.testing.assert_array_equal(image[:, :, 0], (wide >> 8).astype(np.uint8))
    np.testing.assert_array_equal(image[:, :, 2], image[:, :, 0])


def test_array_conversions() -> None:
    gray = np.full((5, 6), 7, dtype=np.uint8)
    assert load_image(gray).shape == (5, 6, 3)
    assert load_image(gray[:, :, np.newaxis]).shape == (5, 6, 3)
    wide = np.full((5, 6, 3), 0x1234, dtype=np.uint16)
    assert (load_image(wide) == 0x12).all()
    sliced = np.zeros((10, 10, 3), dtype=np.uint8)[:, ::2]
    assert load_image(sliced).flags.c_contiguous


def test_empty_inputs() -> None:
    with pytest.raises(EmptyImage, match="empty image: image has 0 bytes") as info:
        load_image(b"")
    assert info.value.code == "empty_image"
    with pytest.raises(EmptyImage, match=r"array of shape \(0, 5, 3\)"):
        load_image(np.zeros((0, 5, 3), dtype=np.uint8))


def test_corrupt_bytes() -> None:
    with pytest.raises(InvalidImage, match="not a JPEG, PNG or JPEG 2000 image") as info:
        load_image(b"this is not an image at all")
    assert info.value.code == "invalid_image"


def test_corrupt_jpeg_body(jpeg_bytes: bytes) -> None:
    # Keep the headers up to the start of scan, replace the entropy-coded data by zeros.
    start = jpeg_bytes.rindex(b"\xff\xda") + 200
    data = jpeg_bytes[:start] + bytes(len(jpeg_bytes) - start)
    with pytest.raises(InvalidImage, match="corrupt or truncated data") as info:
        load_image(data)
    assert info.value.code == "invalid_image"


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5, 0.9, 0.999])
def test_truncated_jpeg_raises(jpeg_bytes: bytes, fraction: float) -> None:
    cut = int(len(jpeg_bytes) * fraction)
    with pytest.raises(InvalidImage, match="invalid image: ") as info:
        load_image(jpeg_bytes[:cut])
    assert info.value.code == "invalid_image"


def test_jpeg_missing_only_its_last_bytes_raises(jpeg_bytes: bytes) -> None:
    for cut in (1, 2, 10):
        with pytest.raises(InvalidImage, match="corrupt or truncated data"):
            load_image(jpeg_bytes[:-cut])


def test_truncated_png_raises(faces_root: Path) -> None:
    data = (faces_root / "people" / "lin_manuel_miranda" / "lin_manuel_miranda1.png").read_bytes()
    with pytest.raises(InvalidImage, match="invalid image: "):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("fmt", "name"), [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF"), ("WEBP", "WEBP")]
)
def test_unsupported_formats_are_named(fmt: str, name: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format=fmt)
    with pytest.raises(UnsupportedImageFormat, match=f"format {name} is not supported") as info:
        load_image(buffer.getvalue())
    assert info.value.code == "unsupported_image_format"
    assert info.value.found == name


def test_too_many_pixels_is_refused_before_decoding(jpeg_bytes: bytes) -> None:
    with pytest.raises(ImageTooLarge, match="exceeds the limit of 1000 pixels") as info:
        load_image(jpeg_bytes, max_pixels=1000)
    assert info.value.code == "image_too_large"
    assert info.value.max_pixels == 1000
    assert info.value.width is not None
    assert info.value.height is not None


def test_decompression_bomb_header_is_refused() -> None:
    # A tiny PNG declaring 60000 x 60000 pixels: refused from the header alone.
    data = _png(np.zeros((1, 1), dtype=np.uint8))
    bomb = bytearray(data)
    ihdr = bomb.index(b"IHDR") + 4
    bomb[ihdr : ihdr + 8] = (60000).to_bytes(4, "big") + (60000).to_bytes(4, "big")
    bomb[ihdr + 13 : ihdr + 17] = zlib.crc32(bomb[ihdr - 4 : ihdr + 13]).to_bytes(4, "big")
    with pytest.raises(ImageTooLarge, match="exceeds the limit of 40000000 pixels"):
        load_image(bytes(bomb))


def test_array_over_limit_and_bad_arrays() -> None:
    with pytest.raises(ImageTooLarge, match="10x10 = 100 pixels exceeds the limit of 99"):
        load_image(np.zeros((10, 10, 3), dtype=np.uint8), max_pixels=99)
    with pytest.raises(InvalidImage, match=r"expected dtype uint8 or uint16, got float32"):
        load_image(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(InvalidImage, match=r"expected shape .* got \(4, 4, 2\)"):
        load_image(np.zeros((4, 4, 2), dtype=np.uint8))


def test_missing_file_and_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidImage, match="cannot read file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InvalidImage, match="expected bytes, a path or a numpy array, got int"):
        load_image(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_pixels must be positive"):
        load_image(b"x", max_pixels=0)


CODES = {"invalid_image", "image_too_large", "empty_image", "unsupported_image_format"}


def _decode_or_code(data: bytes) -> str | None:
    """None when `data` decodes to an RGB image; else the typed error's code. Any
    other exception propagates and fails the test."""
    try:
        image = decode_image(data)
    except BiometricsError as exc:
        return str(getattr(exc, "code", ""))
    assert image.ndim == 3
    assert image.shape[2] == 3
    assert image.dtype == np.uint8
    return None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_typed_errors(data: bytes) -> None:
    code = _decode_or_code(data)
    assert code is None or code in CODES


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mutated_jpeg_raises_only_typed_errors(data: st.DataObject) -> None:
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(small, format="JPEG")
    blob = bytearray(small.getvalue())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(blob)))
    code = _decode_or_code(bytes(blob[:cut]))
    assert code is None or code in CODES
