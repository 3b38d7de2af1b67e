"""Build an ONNX graph of dlib's face ResNet from the records `dlib_format` parsed.

The graph takes the chips exactly as dlib does, (N, 150, 150, 3) uint8 RGB (input
``chips``), normalises them inside ((p - mean) / 256 per channel, planar), and returns the
raw 128-d descriptors, (N, 128) float32 (output ``embeddings``), for any batch size N.

Each affine (frozen batch norm) is folded into the convolution before it, and the input
normalisation into the first one. dlib's ``add_prev`` zero-pads the smaller operand at the
END of channels, rows and columns; that becomes an identity 1x1 Conv then Add, so that ONNX
Runtime can run every block in its NCHWc layout with the Add and Relu fused into a conv.

The file stores neither tag ids nor which wrapper is a tag and which a skip, so the exporter
recognises dlib's two residual block shapes (see `_BLOCK`, `_DOWN_BLOCK`) and refuses any
other topology with `UnsupportedNetwork`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from biometrics import BiometricsError
from biometrics.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibNetwork,
    FullyConnected,
    Layer,
    Pool,
    PoolKind,
    Relu,
    Wrapper,
)

INPUT_NAME = "chips"
OUTPUT_NAME = "embeddings"
OPSET = 17
# onnx >= 1.20 stamps IR 11+, which older onnxruntime builds refuse; opset 17 needs only IR 8.
IR_VERSION = 8
_BATCH = "N"

# Block shapes in file order (input first). W = tag or skip wrapper.
_STEM: tuple[type, ...] = (Conv, Affine, Relu, Pool)
_BLOCK: tuple[type, ...] = (Wrapper, Conv, Affine, Relu, Conv, Affine, AddPrev, Relu)
_DOWN_BLOCK: tuple[type, ...] = (
    *(Wrapper, Conv, Affine, Relu, Conv, Affine),
    *(Wrapper, Wrapper, Pool, AddPrev, Relu),
)
_HEAD: tuple[type, ...] = (Pool, FullyConnected)
_L = TypeVar("_L", Conv, Affine, Relu, Pool, AddPrev, FullyConnected, Wrapper)


class UnsupportedNetwork(BiometricsError):
    """The parsed network is not shaped like dlib's face ResNet."""

    code = "dlib_unsupported_network"

    def __init__(self, index: int, expected: str, found: str) -> None:
        super().__init__(f"layer {index}: expected {expected}, found {found}")
        self.index = index
        self.expected = expected
        self.found = found


@dataclass(frozen=True)
class _Value:
    """A tensor in the graph under construction, with its static (C, H, W) shape."""

    name: str
    shape: tuple[int, int, int]


@dataclass
class _Builder:
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def const(self, prefix: str, array: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        name = self.fresh(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], prefix: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(prefix)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _useful_taps(size: int, kernel: int, stride: int, pad: int) -> tuple[int, int, int]:
    """First tap, tap count and end padding of a kernel cut down to the taps that ever touch
    the input along one axis. A 3x3 kernel over a 1x1 map (dlib's last block) is its centre
    tap alone: cutting the other eight skips 8/9 of that layer's work and weight traffic."""
    out = _out_size(size, kernel, stride, pad)
    touching = [
        t for t in range(kernel) if any(0 <= o * stride + t - pad < size for o in range(out))
    ]
    first, count = touching[0], touching[-1] - touching[0] + 1
    end_pad = (out - 1) * stride + count - size - (pad - first)
    if end_pad < 0:  # the last window stops short of the input (ONNX has no negative pads)
        return 0, kernel, pad
    return first, count, end_pad


def _conv(
    b: _Builder,
    x: _Value,
    conv: Conv,
    affine: Affine,
    at: int,
    *,
    input_shift: npt.NDArray[np.float64] | None = None,
    input_scale: float = 1.0,
) -> _Value:
    """Conv with the following affine folded in: W' = W * gamma, b' = b * gamma + beta.

    With `input_shift`/`input_scale` the conv reads raw x and computes conv((x - shift) *
    scale): W'' = W' * scale, b'' = b' - sum(W'' * shift). Only exact without padding (a
    padded border would be 0 in shifted space but -shift in raw space)."""
    out_c, in_c, kh, kw = conv.filters.shape
    if in_c != x.shape[0] or affine.gamma.size != out_c:
        raise UnsupportedNetwork(
            at,
            f"conv over {x.shape[0]} channels then affine of {out_c}",
            f"filters {conv.filters.shape}, affine of {affine.gamma.size}",
        )
    gamma = affine.gamma.astype(np.float64)
    weights = conv.filters.astype(np.float64) * gamma[:, None, None, None] * input_scale
    bias = conv.biases.astype(np.float64) * gamma + affine.beta.astype(np.float64)
    if input_shift is not None:
        bias -= (weights * input_shift[None, :, None, None]).sum(axis=(1, 2, 3))
    (sy, sx), (py, px) = conv.stride, conv.padding
    h, w = _out_size(x.shape[1], kh, sy, py), _out_size(x.shape[2], kw, sx, px)
    top, rows, bottom = _useful_taps(x.shape[1], kh, sy, py)
    left, cols, right = _useful_taps(x.shape[2], kw, sx, px)
    weights = weights[:, :, top : top + rows, left : left + cols]
    name = b.node(
        "Conv",
        [x.name, b.const("w", weights.astype(np.float32)), b.const("b", bias.astype(np.float32))],
        "conv",
        kernel_shape=[rows, cols],
        strides=[sy, sx],
        pads=[py - top, px - left, bottom, right],
    )
    return _Value(name, (out_c, h, w))


def _relu(b: _Builder, x: _Value) -> _Value:
    return _Value(b.node("Relu", [x.name], "relu"), x.shape)


def _pool(b: _Builder, x: _Value, pool: Pool) -> _Value:
    if pool.is_global:
        op = "GlobalAveragePool" if pool.kind is PoolKind.AVG else "GlobalMaxPool"
        return _Value(b.node(op, [x.name], "gpool"), (x.shape[0], 1, 1))
    (kh, kw), (sy, sx) = pool.size, pool.stride
    op = "AveragePool" if pool.kind is PoolKind.AVG else "MaxPool"
    name = b.node(op, [x.name], "pool", kernel_shape=[kh, kw], strides=[sy, sx])
    h, w = _out_size(x.shape[1], kh, sy, 0), _out_size(x.shape[2], kw, sx, 0)
    return _Value(name, (x.shape[0], h, w))


def _pad_to(b: _Builder, x: _Value, shape: tuple[int, int, int]) -> _Value:
    """Zero-pad `x` at the end of channels, rows and columns to `shape`, as a 1x1 conv with
    identity weights (exact: each output is 1 * x + zeros) rather than a Pad: ONNX Runtime
    keeps Convs in its blocked NCHWc layout and fuses the residual Add and Relu into the
    conv that follows, where one Pad sends the rest of the network back to plain NCHW with a
    layout reorder, an Add and a Relu per block."""
    extra = [t - s for t, s in zip(shape, x.shape, strict=True)]
    if not any(extra):
        return x
    identity = np.zeros((shape[0], x.shape[0], 1, 1), dtype=np.float32)
    identity[np.arange(x.shape[0]), np.arange(x.shape[0])] = 1
    name = b.node(
        "Conv",
        [x.name, b.const("identity", identity), b.const("zeros", np.zeros(shape[0], np.float32))],
        "pad",
        kernel_shape=[1, 1],
        pads=[0, 0, extra[1], extra[2]],
    )
    return _Value(name, shape)


def _add(b: _Builder, x: _Value, y: _Value) -> _Value:
    """dlib's add_prev: zero-pad both operands at the end to the larger shape, then add."""
    shape = (max(x.shape[0], y.shape[0]), max(x.shape[1], y.shape[1]), max(x.shape[2], y.shape[2]))
    x, y = _pad_to(b, x, shape), _pad_to(b, y, shape)
    return _Value(b.node("Add", [x.name, y.name], "add"), shape)


class _Cursor:
    """Walks the parsed layers, handing them out by expected type."""

    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self.layers = layers
        self.at = 0

    def ahead(self, pattern: tuple[type, ...], *, last: bool = False) -> bool:
        window = self.layers[self.at : self.at + len(pattern)]
        return (
            len(window) == len(pattern)
            and all(isinstance(layer, kind) for layer, kind in zip(window, pattern, strict=True))
            and (not last or self.at + len(pattern) == len(self.layers))
        )

    def describe(self) -> str:
        window = self.layers[self.at : self.at + len(_DOWN_BLOCK)]
        return " ".join(type(layer).__name__ for layer in window) or "end of network"

    def take(self, kind: type[_L]) -> _L:
        layer = self.layers[self.at] if self.at < len(self.layers) else None
        if not isinstance(layer, kind):
            raise UnsupportedNetwork(self.at, kind.__name__, type(layer).__name__)
        self.at += 1
        return layer

    def pool(self, b: _Builder, x: _Value, kind: PoolKind) -> _Value:
        at, pool = self.at, self.take(Pool)
        if pool.kind is not kind or pool.padding != (0, 0) or pool.is_global:
            # dlib's padded pools differ from ONNX's (its avg pool skips the padding);
            # its face ResNet has none, so refuse rather than guess.
            raise UnsupportedNetwork(
                at, f"{kind.value} pool without padding", f"{pool.kind.value} pool {pool}"
            )
        return _pool(b, x, pool)

    def conv(self, b: _Builder, x: _Value) -> _Value:
        at = self.at
        return _conv(b, x, self.take(Conv), self.take(Affine), at)


def _residual(b: _Builder, x: _Value, layers: _Cursor) -> _Value:
    """One block: relu(conv-affine-relu-conv-affine(x) + shortcut), the shortcut being x or,
    in a downsampling block, avg_pool(x) (dlib: add_prev2<avg_pool<skip1<tag2<...>>>>)."""
    down = layers.ahead(_DOWN_BLOCK)
    if not down and not layers.ahead(_BLOCK):
        raise UnsupportedNetwork(layers.at, "a residual block or the head", layers.describe())
    layers.take(Wrapper)  # tag1: the block input
    branch = layers.conv(b, x)
    layers.take(Relu)
    branch = layers.conv(b, _relu(b, branch))
    shortcut = x
    if down:
        layers.take(Wrapper)  # tag2: the conv branch
        layers.take(Wrapper)  # skip1: back to the block input
        shortcut = layers.pool(b, x, PoolKind.AVG)
    layers.take(AddPrev)
    layers.take(Relu)
    return _relu(b, _add(b, branch, shortcut))


def _stem(b: _Builder, net: DlibNetwork, layers: _Cursor) -> _Value:
    """Chips (N, rows, cols, 3) uint8 to planar float, then the first conv. dlib normalises
    each channel to (p - mean) / 256 first; without padding that folds into the conv's
    weights and bias, saving two full passes over the input."""
    rows, cols = net.input.rows, net.input.cols
    x = b.node("Transpose", [INPUT_NAME], "planar", perm=[0, 3, 1, 2])
    pixels = _Value(b.node("Cast", [x], "float", to=1), (3, rows, cols))  # 1 = FLOAT
    means = np.array(net.input.means, dtype=np.float64)
    at, conv, affine = layers.at, layers.take(Conv), layers.take(Affine)
    if conv.padding == (0, 0):
        return _conv(b, pixels, conv, affine, at, input_shift=means, input_scale=1 / 256)
    planar_means = means.astype(np.float32).reshape(1, 3, 1, 1)
    centred = b.node("Sub", [pixels.name, b.const("means", planar_means)], "centred")
    scale = np.array(1 / 256, dtype=np.float32)
    scaled = _Value(b.node("Mul", [centred, b.const("scale", scale)], "scaled"), pixels.shape)
    return _conv(b, scaled, conv, affine, at)


def _layer_graph(b: _Builder, net: DlibNetwork) -> _Value:
    layers = _Cursor(net.layers)
    x = _stem(b, net, layers)
    layers.take(Relu)
    x = layers.pool(b, _relu(b, x), PoolKind.MAX)
    while not layers.ahead(_HEAD, last=True):
        x = _residual(b, x, layers)
    at, head_pool, fc = layers.at, layers.take(Pool), layers.take(FullyConnected)
    if not head_pool.is_global or fc.weights.shape[0] != x.shape[0]:
        raise UnsupportedNetwork(
            at, f"global pool then fc from {x.shape[0]}", f"{head_pool}, fc {fc.weights.shape}"
        )
    x = _pool(b, x, head_pool)
    flat = b.node("Flatten", [x.name], "flat", axis=1)
    out = b.node("MatMul", [flat, b.const("fc", fc.weights)], "fc")
    if fc.bias is not None:
        out = b.node("Add", [out, b.const("fc_bias", fc.bias)], "fc_bias")
    return _Value(out, (fc.weights.shape[1], 1, 1))


def build_onnx(net: DlibNetwork) -> Any:
    """Translate `net` to a checked ``onnx.ModelProto``:
    input ``chips`` (N, rows, cols, 3) uint8 RGB -> output ``embeddings`` (N, 128) float32."""
    import onnx
    from onnx import TensorProto, helper

    b = _Builder()
    out = _layer_graph(b, net)
    b.nodes.append(helper.make_node("Identity", [out.name], [OUTPUT_NAME], name=OUTPUT_NAME))
    graph = helper.make_graph(
        b.nodes,
        "dlib_face_resnet",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.UINT8, [_BATCH, net.input.rows, net.input.cols, 3]
            )
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [_BATCH, out.shape[0]])],
        initializer=b.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="egate.biometrics.onnx_export",
        doc_string=f"dlib face ResNet; loss threshold {net.loss.threshold:.3f} (Euclidean)",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model
