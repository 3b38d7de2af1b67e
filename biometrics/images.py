"""Image bytes, arrays or files in; one (H, W, 3) uint8 RGB array out.

Accepted encodings are JPEG, PNG and JPEG 2000 (the format of many passport-chip
DG2 portraits). The pixel count is read from the header and checked BEFORE any
pixel is decoded, so a small file that declares a huge image (a decompression
bomb) costs nothing. A truncated or corrupt file is an error, never a half-grey
image.

Conversions, all to 8-bit RGB:

- grayscale (L, 1, I;16, I) is replicated to three channels; 16-bit samples keep
  their high byte (``v >> 8``), so a 16-bit PNG looks like its 8-bit rendering;
- palette images are expanded through their palette;
- an alpha channel (RGBA, LA, palette transparency) is composited over a white
  background, the ICAO portrait background: transparent pixels become white,
  never the undefined colour they happen to store;
- the EXIF orientation tag of a JPEG is applied, so a phone photo is upright.
"""

from __future__ import annotations

import io
import os
import warnings
from enum import Enum
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from biometrics import BiometricsError

DEFAULT_MAX_PIXELS: Final = 40_000_000
"""About a 7700x5200 photograph: far above any gate camera, well below memory trouble."""

RgbImage = npt.NDArray[np.uint8]
"""(H, W, 3) uint8 RGB, C-contiguous."""

ImageSource = bytes | bytearray | memoryview | np.ndarray | os.PathLike[str] | str


class ImageFormat(Enum):
    """Encodings `load_image` decodes."""

    JPEG = "JPEG"
    PNG = "PNG"
    JPEG2000 = "JPEG2000"


# Signatures of formats we recognise but refuse, so the error can name them.
_FOREIGN_SIGNATURES: Final = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x00\x0cjP  ", None),  # JP2 box: accepted, listed to skip the RIFF test
)
_ALLOWED_PIL_FORMATS: Final = tuple(f.value for f in ImageFormat)


class InvalidImage(BiometricsError):
    """The input is not a decodable image (corrupt, truncated, wrong type or shape)."""

    code: str = "invalid_image"

    def __init__(self, reason: str, *, source: str = "image") -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"invalid {source}: {reason}")


class UnsupportedImageFormat(InvalidImage):
    """A recognisable image in a format the gate does not accept."""

    code = "unsupported_image_format"

    def __init__(self, found: str, *, source: str = "image") -> None:
        self.found = found
        accepted = ", ".join(_ALLOWED_PIL_FORMATS)
        super().__init__(f"format {found} is not supported (accepted: {accepted})", source=source)


class ImageTooLarge(BiometricsError):
    """The header declares more pixels than allowed; nothing was decoded."""

    code: str = "image_too_large"

    def __init__(
        self, max_pixels: int, width: int | None = None, height: int | None = None
    ) -> None:
        self.width = width
        self.height = height
        self.max_pixels = max_pixels
        size = f"{width}x{height} = {width * height} pixels" if width and height else "size"
        super().__init__(f"image of {size} exceeds the limit of {max_pixels} pixels")


class EmptyImage(BiometricsError):
    """Zero bytes, or an image with no pixels."""

    code: str = "empty_image"

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"empty image: {what}")


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> RgbImage:
    """Decode `source` into an (H, W, 3) uint8 RGB array.

    `source` is encoded bytes, a path, or an array: (H, W, 3) uint8 RGB is returned
    as is (no copy when already C-contiguous); (H, W) grayscale, (H, W, 4) RGBA and
    uint16 arrays are converted as described in the module docstring.
    `max_pixels` bounds width x height (header check before decoding).

    Raises `EmptyImage`, `ImageTooLarge`, `UnsupportedImageFormat` or `InvalidImage`.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_image(bytes(source), max_pixels=max_pixels)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidImage(f"cannot read file: {exc.strerror}", source=str(path)) from exc
        return decode_image(data, max_pixels=max_pixels, source=str(path))
    raise InvalidImage(f"expected bytes, a path or a numpy array, got {type(source).__name__}")


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, source: str = "image"
) -> RgbImage:
    """Decode JPEG / PNG / JPEG 2000 bytes into (H, W, 3) uint8 RGB (see `load_image`)."""
    if not data:
        raise EmptyImage(f"{source} has 0 bytes")
    _refuse_foreign_format(data, source)
    with warnings.catch_warnings():
        # Our own max_pixels check replaces Pillow's DecompressionBombWarning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data), formats=_ALLOWED_PIL_FORMATS)
        except Image.DecompressionBombError as exc:
            # Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS), hit before ours.
            raise ImageTooLarge(max_pixels) from exc
        except UnidentifiedImageError as exc:
            raise InvalidImage("not a JPEG, PNG or JPEG 2000 image", source=source) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidImage(f"unreadable header ({exc})", source=source) from exc
        width, height = image.size
        if width <= 0 or height <= 0:
            raise EmptyImage(f"{source} is {width}x{height} pixels")
        if width * height > max_pixels:
            raise ImageTooLarge(max_pixels, width, height)
        try:
            image.load()
            if image.format == "JPEG":
                ImageOps.exif_transpose(image, in_place=True)  # no copy when upright
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(max_pixels, width, height) from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            # Pillow reports a truncated stream as OSError("image file is truncated ...").
            raise InvalidImage(f"corrupt or truncated data ({exc})", source=source) from exc
    return _to_rgb(image)


def _refuse_foreign_format(data: bytes, source: str) -> None:
    for signature, name in _FOREIGN_SIGNATURES:
        if data.startswith(signature):
            if name is None:
                return
            raise UnsupportedImageFormat(name, source=source)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        raise UnsupportedImageFormat("WEBP", source=source)


def _to_rgb(image: Image.Image) -> RgbImage:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale: keep the high byte (Pillow's convert("L") would clip instead).
        wide = np.asarray(image).astype(np.uint32, copy=False)
        return _gray_to_rgb((np.clip(wide, 0, 65535) >> 8).astype(np.uint8))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "L":
        return _gray_to_rgb(np.asarray(image))
    elif mode != "RGBA":
        image = image.convert("RGB")  # 1, CMYK, YCbCr, F
    array = np.asarray(image)
    return _composite(array) if array.shape[2] == 4 else array


def _from_array(array: np.ndarray, max_pixels: int) -> RgbImage:
    if array.size == 0:
        raise EmptyImage(f"array of shape {array.shape}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InvalidImage(f"expected shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    height, width = array.shape[:2]
    if width * height > max_pixels:
        raise ImageTooLarge(max_pixels, width, height)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise InvalidImage(f"expected dtype uint8 or uint16, got {array.dtype}")
    if array.ndim == 2 or array.shape[2] == 1:
        return _gray_to_rgb(array.reshape(height, width))
    if array.shape[2] == 4:
        return _composite(array)
    return np.ascontiguousarray(array)


def _gray_to_rgb(gray: npt.NDArray[np.uint8]) -> RgbImage:
    return np.repeat(gray[:, :, np.newaxis], 3, axis=2)


def _composite(rgba: npt.NDArray[np.uint8]) -> RgbImage:
    """Alpha-composite (H, W, 4) over white; an opaque image is simply sliced."""
    alpha = rgba[:, :, 3]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[:, :, :3])
    a = alpha[:, :, np.newaxis].astype(np.uint16)
    rgb = rgba[:, :, :3].astype(np.uint16)
    # round(rgb * a / 255 + 255 * (255 - a) / 255) in integers.
    out = (rgb * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)
