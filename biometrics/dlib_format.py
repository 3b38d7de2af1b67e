"""Reader for dlib's serialized deep networks (``dlib::serialize`` of a ``loss_metric`` net).

Only what ``dlib_face_recognition_resnet_model_v1.dat`` uses is understood: the primitive
codecs (integers, floats, strings, bools, tensors) and the layer records ``input_rgb_image_sized``,
``con_4``, ``affine_``, ``relu_``, ``max_pool_2``, ``avg_pool_2``, ``add_prev_``, ``fc_2`` and
``loss_metric_2``. Anything else is refused with a `DlibFormatError` naming the byte offset.

Layout (from dlib's serialize.h and dnn/core.h): ``add_loss_layer`` writes its version, its loss
record, then its subnet. Each ``add_layer`` writes its version, the WHOLE subnet, then its own
record, three bools and its (empty) gradient/cache tensors; tag and skip wrappers write only a
version and their subnet. So the file opens with a run of version numbers and the layer records
follow from the input up. The file does not say which wrapper is a tag and which a skip, nor
their ids: `Wrapper` records keep only their position, and `onnx_export` recognises the blocks.
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from biometrics import BiometricsError

Floats = npt.NDArray[np.float32]

# float_details: exponents past the int16 range of real numbers mark the specials.
_EXP_INF, _EXP_NINF, _EXP_NAN = 32000, 32001, 32002
_TENSOR_VERSION = 2
_ALIAS_VERSION = 1
_ADD_LAYER_VERSION = 2
_INPUT_ADD_LAYER_VERSION = 3
_WRAPPER_VERSION = 1
_LOSS_VERSION = 1
# Guards against reading a huge allocation out of a corrupted dimension.
_MAX_TENSOR_ELEMENTS = 1 << 28


class DlibFormatError(BiometricsError):
    """The bytes are not a dlib network this reader understands."""

    code = "dlib_format"

    def __init__(self, offset: int, expected: str, found: str) -> None:
        super().__init__(f"dlib file at byte {offset}: expected {expected}, found {found}")
        self.offset = offset
        self.expected = expected
        self.found = found


class DlibTruncated(DlibFormatError):
    """The file ends in the middle of a value."""

    code = "dlib_truncated"

    def __init__(self, offset: int, expected: str, needed: int, available: int) -> None:
        super().__init__(offset, expected, f"end of file ({needed} bytes needed, {available} left)")


class DlibReader:
    """Cursor over dlib-serialized bytes; each method decodes one value and advances.

    Every failure raises `DlibFormatError` (or `DlibTruncated`) with the offset where the
    offending value starts.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int, expected: str, start: int | None = None) -> bytes:
        available = len(self.data) - self.pos
        if count > available:
            raise DlibTruncated(self.pos if start is None else start, expected, count, available)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self, expected: str = "integer", *, bits: int = 64) -> int:
        """A signed integer: control byte (bit 7 = negative, low nibble = length n), then n
        little-endian magnitude bytes. `bits` is the C++ type's width, checked like dlib does."""
        start = self.pos
        control = self._take(1, expected)[0]
        size = control & 0x0F
        if control & 0x70:
            raise DlibFormatError(start, expected, f"control byte 0x{control:02x}")
        if size > bits // 8:
            raise DlibFormatError(
                start, expected, f"{size}-byte magnitude (too wide for int{bits})"
            )
        magnitude = int.from_bytes(self._take(size, expected, start), "little")
        value = -magnitude if control & 0x80 else magnitude
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise DlibFormatError(start, expected, f"{value} (outside int{bits})")
        return value

    def expect_int(self, expected_value: int, what: str) -> None:
        start = self.pos
        value = self.integer(what)
        if value != expected_value:
            raise DlibFormatError(start, f"{what} = {expected_value}", str(value))

    def real(self, expected: str = "float") -> float:
        """A float or double: int64 mantissa then int16 exponent; value = m * 2**e."""
        mantissa = self.integer(expected, bits=64)
        exponent = self.integer(expected, bits=16)
        if exponent == _EXP_INF:
            return math.inf
        if exponent == _EXP_NINF:
            return -math.inf
        if exponent == _EXP_NAN:
            return math.nan
        try:
            return math.ldexp(mantissa, exponent)
        except OverflowError:
            return math.copysign(math.inf, mantissa)

    def boolean(self, expected: str = "bool") -> bool:
        start = self.pos
        byte = self._take(1, expected)
        if byte not in (b"0", b"1"):
            raise DlibFormatError(start, f"{expected} ('0' or '1')", repr(byte))
        return byte == b"1"

    def string(self, expected: str = "string") -> str:
        start = self.pos
        length = self.integer(f"length of {expected}")
        if length < 0:
            raise DlibFormatError(start, f"length of {expected}", str(length))
        raw = self._take(length, expected, start)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise DlibFormatError(start, f"{expected} (ASCII)", repr(raw[:32])) from None

    def _dims(self, what: str) -> tuple[int, int, int, int]:
        start = self.pos
        dims = tuple(self.integer(f"{what} dimension") for _ in range(4))
        if min(dims) < 0 or math.prod(dims) > _MAX_TENSOR_ELEMENTS:
            raise DlibFormatError(start, f"{what} dimensions", str(dims))
        return dims[0], dims[1], dims[2], dims[3]

    def tensor(self, what: str = "tensor") -> Floats:
        """A resizable_tensor: version 2, dims (n, k, nr, nc), then raw little-endian float32.
        Returns an array of shape (n, k, nr, nc)."""
        self.expect_int(_TENSOR_VERSION, f"{what} version")
        dims = self._dims(what)
        start = self.pos
        raw = self._take(4 * math.prod(dims), f"{what} data {dims}", start)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self, what: str = "alias tensor") -> tuple[int, int, int, int]:
        """An alias_tensor: version 1 and dims only (a view shape into a layer's params)."""
        self.expect_int(_ALIAS_VERSION, f"{what} version")
        return self._dims(what)

    def name(self, expected: tuple[str, ...]) -> str:
        start = self.pos
        found = self.string("layer name")
        if found not in expected:
            raise DlibFormatError(start, f"one of {', '.join(expected)}", repr(found))
        return found


class PoolKind(enum.Enum):
    MAX = "max"
    AVG = "avg"


@dataclass(frozen=True, eq=False)
class InputRgb:
    """``input_rgb_image_sized``: chips of rows x cols; each channel becomes (p - mean) / 256."""

    means: tuple[float, float, float]  # R, G, B
    rows: int
    cols: int


@dataclass(frozen=True, eq=False)
class Conv:
    """``con_``: cross-correlation with OIHW `filters` (O, I, kh, kw) and `biases` (O,)."""

    filters: Floats
    biases: Floats
    stride: tuple[int, int]  # y, x
    padding: tuple[int, int]  # y, x


@dataclass(frozen=True, eq=False)
class Affine:
    """``affine_``: y = gamma * x + beta per channel (a frozen batch norm)."""

    gamma: Floats  # (C,)
    beta: Floats  # (C,)


@dataclass(frozen=True, eq=False)
class Relu:
    pass


@dataclass(frozen=True, eq=False)
class Pool:
    """``max_pool_2`` / ``avg_pool_2``; size (0, 0) pools the whole feature map."""

    kind: PoolKind
    size: tuple[int, int]  # rows, cols
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def is_global(self) -> bool:
        return self.size == (0, 0)


@dataclass(frozen=True, eq=False)
class AddPrev:
    """``add_prev_``: adds the output of a tagged earlier layer, zero-padding the smaller
    operand at the end of channels, rows and columns."""


@dataclass(frozen=True, eq=False)
class FullyConnected:
    """``fc_``: y = x @ weights (+ bias); weights (in, out) as dlib stores them."""

    weights: Floats
    bias: Floats | None


@dataclass(frozen=True, eq=False)
class Wrapper:
    """A tag or skip layer (the file says neither which nor its id)."""


@dataclass(frozen=True, eq=False)
class MetricLoss:
    """``loss_metric_2``: training margin and the distance threshold (0.6 for faces)."""

    margin: float
    threshold: float


Layer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected | Wrapper


@dataclass(frozen=True, eq=False)
class DlibNetwork:
    """A parsed network: `layers` run from just after `input` up to the loss."""

    input: InputRgb
    layers: tuple[Layer, ...]
    loss: MetricLoss

    @property
    def parameter_count(self) -> int:
        """Number of float32 parameters stored in the file."""
        total = 0
        for layer in self.layers:
            if isinstance(layer, Conv):
                total += layer.filters.size + layer.biases.size
            elif isinstance(layer, Affine):
                total += layer.gamma.size + layer.beta.size
            elif isinstance(layer, FullyConnected):
                total += layer.weights.size + (0 if layer.bias is None else layer.bias.size)
        return total


_LAYER_NAMES = ("con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2")
_FC_HAS_BIAS, _FC_NO_BIAS = 0, 1


def _read_conv(r: DlibReader) -> Conv:
    params = r.tensor("con_ params")
    num_filters = r.integer("con_ num_filters")
    nr, nc = r.integer("con_ rows"), r.integer("con_ cols")
    stride = (r.integer("con_ stride_y"), r.integer("con_ stride_x"))
    padding = (r.integer("con_ padding_y"), r.integer("con_ padding_x"))
    start = r.pos
    filters_shape = r.alias("con_ filters")
    biases_shape = r.alias("con_ biases")
    for _ in range(4):  # learning-rate and weight-decay multipliers: training only
        r.real("con_ multiplier")
    n_filters, n_biases = math.prod(filters_shape), math.prod(biases_shape)
    if (
        filters_shape[0] != num_filters
        or filters_shape[2:] != (nr, nc)
        or n_biases != num_filters
        or params.size != n_filters + n_biases
        or min(stride) < 1
    ):
        raise DlibFormatError(
            start,
            f"con_ shapes consistent with {num_filters} filters of {nr}x{nc}, stride >= 1",
            f"params {params.size}, filters {filters_shape}, biases {biases_shape}, "
            f"stride {stride}",
        )
    flat = params.reshape(-1)
    return Conv(
        filters=flat[:n_filters].reshape(filters_shape),
        biases=flat[n_filters:],
        stride=stride,
        padding=padding,
    )


def _read_affine(r: DlibReader) -> Affine:
    params = r.tensor("affine_ params")
    start = r.pos
    gamma_shape, beta_shape = r.alias("affine_ gamma"), r.alias("affine_ beta")
    r.integer("affine_ mode")
    n = math.prod(gamma_shape)
    if math.prod(beta_shape) != n or params.size != 2 * n:
        raise DlibFormatError(
            start, "affine_ gamma and beta of equal size filling params", f"{params.size} floats"
        )
    flat = params.reshape(-1)
    return Affine(gamma=flat[:n], beta=flat[n:])


def _read_pool(r: DlibReader, kind: PoolKind) -> Pool:
    size = (r.integer("pool rows"), r.integer("pool cols"))
    stride = (r.integer("pool stride_y"), r.integer("pool stride_x"))
    padding = (r.integer("pool padding_y"), r.integer("pool padding_x"))
    return Pool(kind=kind, size=size, stride=stride, padding=padding)


def _read_fc(r: DlibReader) -> FullyConnected:
    num_outputs, num_inputs = r.integer("fc_ num_outputs"), r.integer("fc_ num_inputs")
    params = r.tensor("fc_ params")
    r.alias("fc_ weights")
    r.alias("fc_ biases")
    start = r.pos
    bias_mode = r.integer("fc_ bias mode")
    for _ in range(4):
        r.real("fc_ multiplier")
    rows = num_inputs + (1 if bias_mode == _FC_HAS_BIAS else 0)
    if bias_mode not in (_FC_HAS_BIAS, _FC_NO_BIAS) or params.size != rows * num_outputs:
        raise DlibFormatError(
            start,
            f"fc_ bias mode 0/1 and {rows}x{num_outputs} params",
            f"mode {bias_mode}, {params.size} floats",
        )
    table = params.reshape(rows, num_outputs)
    bias = table[num_inputs] if bias_mode == _FC_HAS_BIAS else None
    return FullyConnected(weights=table[:num_inputs], bias=bias)


def _read_layer(r: DlibReader) -> Layer:
    name = r.name(_LAYER_NAMES)
    if name == "con_4":
        return _read_conv(r)
    if name == "affine_":
        return _read_affine(r)
    if name == "max_pool_2":
        return _read_pool(r, PoolKind.MAX)
    if name == "avg_pool_2":
        return _read_pool(r, PoolKind.AVG)
    if name == "fc_2":
        return _read_fc(r)
    return Relu() if name == "relu_" else AddPrev()


def _read_layer_state(r: DlibReader) -> None:
    """add_layer's bookkeeping after its record: 3 bools and 3 gradient/cache tensors."""
    for _ in range(3):
        r.boolean("add_layer flag")
    for _ in range(3):
        r.tensor("add_layer state tensor")


def _read_input(r: DlibReader) -> InputRgb:
    r.name(("input_rgb_image_sized",))
    means = (r.real("red mean"), r.real("green mean"), r.real("blue mean"))
    start = r.pos
    rows, cols = r.integer("input rows"), r.integer("input cols")
    if rows < 1 or cols < 1:
        raise DlibFormatError(start, "positive input rows and cols", f"{rows}x{cols}")
    return InputRgb(means=means, rows=rows, cols=cols)


def _read_subnet(r: DlibReader) -> tuple[InputRgb, list[Layer]]:
    # Versions come outermost first; records come back innermost first, so walk down
    # the version run, then read the records while unwinding it.
    pending: list[int] = []
    while True:
        start = r.pos
        version = r.integer("layer version")
        if version == _INPUT_ADD_LAYER_VERSION:
            break
        if version not in (_ADD_LAYER_VERSION, _WRAPPER_VERSION):
            raise DlibFormatError(start, f"layer version {_WRAPPER_VERSION}, 2 or 3", str(version))
        pending.append(version)
    input_layer = _read_input(r)
    layers: list[Layer] = [_read_layer(r)]
    _read_layer_state(r)
    # The bottom add_layer also keeps its input's sample expansion factor (1 for images).
    r.expect_int(1, "sample expansion factor")
    for version in reversed(pending):
        if version == _WRAPPER_VERSION:
            layers.append(Wrapper())
        else:
            layers.append(_read_layer(r))
            _read_layer_state(r)
    return input_layer, layers


def parse_network(data: bytes) -> DlibNetwork:
    """Parse the bytes of a serialized dlib ``loss_metric`` network."""
    r = DlibReader(data)
    r.expect_int(_LOSS_VERSION, "loss layer version")
    r.name(("loss_metric_2",))
    loss = MetricLoss(margin=r.real("loss margin"), threshold=r.real("loss threshold"))
    input_layer, layers = _read_subnet(r)
    if r.pos != len(data):
        raise DlibFormatError(r.pos, "end of file", f"{len(data) - r.pos} more bytes")
    return DlibNetwork(input=input_layer, layers=tuple(layers), loss=loss)


def read_network(path: os.PathLike[str] | str) -> DlibNetwork:
    """Read and parse a ``.dat`` network file (e.g. dlib_face_recognition_resnet_model_v1.dat)."""
    return parse_network(Path(path).read_bytes())
