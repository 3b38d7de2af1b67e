"""The ONNX graph built from dlib's face ResNet: structure, interface, and equality with
dlib on inputs unlike faces (random pixels, extreme values, any batch size)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biometrics.dlib_format import (
    AddPrev,
    Conv,
    DlibNetwork,
    FullyConnected,
    Pool,
    PoolKind,
    Relu,
    Wrapper,
    read_network,
)
from biometrics.onnx_export import (
    INPUT_NAME,
    IR_VERSION,
    OPSET,
    OUTPUT_NAME,
    UnsupportedNetwork,
    build_onnx,
)


@pytest.fixture(scope="module")
def weights() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


@pytest.fixture(scope="module")
def network(weights: Path) -> DlibNetwork:
    return read_network(weights)


@pytest.fixture(scope="module")
def model(network: DlibNetwork) -> Any:
    return build_onnx(network)


def _session(model: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


@pytest.fixture(scope="module")
def session(model: Any) -> Any:
    return _session(model)


@pytest.fixture(scope="module")
def dlib_model(weights: Path) -> Any:
    import dlib

    return dlib.face_recognition_model_v1(str(weights))


def _dlib(dlib_model: Any, chips: np.ndarray) -> np.ndarray:
    return np.array(
        [np.asarray(v) for v in dlib_model.compute_face_descriptor(list(chips), 0)],
        dtype=np.float32,
    )


def _dims(value_info: Any) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_interface_is_uint8_chips_in_float_embeddings_out_any_batch(model: Any) -> None:
    from onnx import TensorProto

    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == INPUT_NAME
    assert inp.type.tensor_type.elem_type == TensorProto.UINT8
    assert _dims(inp) == ["N", 150, 150, 3]
    assert out.name == OUTPUT_NAME
    assert out.type.tensor_type.elem_type == TensorProto.FLOAT
    assert _dims(out) == ["N", 128]


def test_model_versions_are_loadable_by_onnxruntime(model: Any) -> None:
    assert model.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _initializers(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_affines_and_normalisation_are_folded_into_convs(model: Any, network: DlibNetwork) -> None:
    ops = Counter(node.op_type for node in model.graph.node)
    # 29 of dlib's convs and 5 identity convs that zero-pad an add's operand (below)
    assert ops["Conv"] == 29 + 5
    assert "BatchNormalization" not in ops
    # (p - mean) / 256 lives in the first conv's weights and bias
    assert "Sub" not in ops
    assert "Mul" not in ops
    assert ops["Relu"] == 29
    assert ops["MaxPool"] == 1
    assert ops["AveragePool"] == 4
    assert ops["GlobalAveragePool"] == 1
    assert ops["MatMul"] == 1
    assert ops["Add"] == sum(isinstance(layer, AddPrev) for layer in network.layers)
    # fc has no bias: nothing after the MatMul but the output's Identity
    assert not any(node.op_type == "Gemm" for node in model.graph.node)


def test_adds_zero_pad_with_identity_convs_not_pads(model: Any) -> None:
    """3 channel increases (32->64->128->256) pad the pooled shortcut's channels and 2
    downsampling blocks pad the conv branch's rows/cols (3x3 -> 4x4, 1x1 -> 2x2), each as a
    1x1 conv with identity weights, zero bias and padding only at the end."""
    values = _initializers(model)
    pads = [node for node in model.graph.node if node.name.startswith("pad")]
    assert "Pad" not in {node.op_type for node in model.graph.node}
    assert len(pads) == 5
    shapes = []
    for node in pads:
        attrs = _attrs(node)
        assert node.op_type == "Conv"
        assert attrs["kernel_shape"] == [1, 1]
        assert attrs["pads"][:2] == [0, 0]
        weights, bias = values[node.input[1]], values[node.input[2]]
        out_c, in_c = weights.shape[:2]
        np.testing.assert_array_equal(weights[:, :, 0, 0], np.eye(out_c, in_c, dtype=np.float32))
        assert not bias.any()
        shapes.append((in_c, out_c, attrs["pads"][2:]))
    assert sorted(shapes) == [
        (32, 64, [0, 0]),
        (64, 128, [0, 0]),
        (128, 256, [0, 0]),
        (256, 256, [1, 1]),
        (256, 256, [1, 1]),
    ]


def test_padding_follows_dlibs_rule(model: Any) -> None:
    convs = [node for node in model.graph.node if node.name.startswith("conv")]
    assert len(convs) == 29
    trimmed = []
    for node in convs:
        attrs = _attrs(node)
        k, stride = attrs["kernel_shape"][0], attrs["strides"][0]
        if k == 1:
            trimmed.append(node)
            continue
        assert attrs["pads"] == [0 if stride != 1 else k // 2] * 4
    # The last block's second 3x3 conv runs over a 1x1 map: only its centre tap sees data.
    (last,) = trimmed
    assert last is convs[-1]
    assert _attrs(last)["pads"] == [0, 0, 0, 0]
    assert _initializers(model)[last.input[1]].shape == (256, 256, 1, 1)


def test_first_conv_with_padding_keeps_the_explicit_normalisation(network: DlibNetwork) -> None:
    """Folding (p - mean) / 256 into the first conv is exact only without padding."""
    first = network.layers[0]
    assert isinstance(first, Conv)
    padded = dataclasses.replace(first, padding=(3, 3))
    model = build_onnx(dataclasses.replace(network, layers=(padded, *network.layers[1:])))
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops["Sub"] == 1
    assert ops["Mul"] == 1
    chips = np.zeros((1, 150, 150, 3), dtype=np.uint8)
    assert _session(model).run(None, {INPUT_NAME: chips})[0].shape == (1, 128)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_random_chips_equal_dlib(batch: int, seed: int, session: Any, dlib_model: Any) -> None:
    chips = np.random.default_rng(seed).integers(0, 256, (batch, 150, 150, 3), dtype=np.uint8)
    got = session.run(None, {INPUT_NAME: chips})[0]
    assert got.shape == (batch, 128)
    np.testing.assert_allclose(got, _dlib(dlib_model, chips), rtol=0, atol=1e-4)


@pytest.mark.parametrize("value", [0, 255])
def test_flat_extreme_chips_equal_dlib(value: int, session: Any, dlib_model: Any) -> None:
    chips = np.full((1, 150, 150, 3), value, dtype=np.uint8)
    got = session.run(None, {INPUT_NAME: chips})[0]
    np.testing.assert_allclose(got, _dlib(dlib_model, chips), rtol=0, atol=1e-4)


def test_channel_order_is_rgb(session: Any, dlib_model: Any) -> None:
    """Swapping R and B changes the embedding the way dlib's does: the graph reads RGB."""
    chip = np.random.default_rng(3).integers(0, 256, (1, 150, 150, 3), dtype=np.uint8)
    bgr = chip[..., ::-1].copy()
    got = session.run(None, {INPUT_NAME: bgr})[0]
    np.testing.assert_allclose(got, _dlib(dlib_model, bgr), rtol=0, atol=1e-4)
    assert np.abs(got - _dlib(dlib_model, chip)).max() > 1e-3


def test_fc_bias_is_added(network: DlibNetwork, session: Any) -> None:
    fc = network.layers[-1]
    assert isinstance(fc, FullyConnected)
    bias = np.linspace(-1, 1, fc.weights.shape[1], dtype=np.float32)
    biased = dataclasses.replace(
        network, layers=(*network.layers[:-1], dataclasses.replace(fc, bias=bias))
    )
    chips = np.random.default_rng(5).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    with_bias = _session(build_onnx(biased)).run(None, {INPUT_NAME: chips})[0]
    plain = session.run(None, {INPUT_NAME: chips})[0]
    np.testing.assert_allclose(with_bias, plain + bias, atol=1e-5)


def _without(network: DlibNetwork, index: int) -> DlibNetwork:
    return dataclasses.replace(network, layers=network.layers[:index] + network.layers[index + 1 :])


def test_missing_relu_in_a_block_is_unsupported(network: DlibNetwork) -> None:
    # layers: conv affine relu pool | wrapper conv affine relu ...: drop the block's relu (7)
    assert isinstance(network.layers[7], Relu)
    with pytest.raises(
        UnsupportedNetwork, match=r"layer 4: expected a residual block or the head, found Wrapper"
    ) as info:
        build_onnx(_without(network, 7))
    assert info.value.code == "dlib_unsupported_network"


def test_missing_head_is_unsupported(network: DlibNetwork) -> None:
    truncated = dataclasses.replace(network, layers=network.layers[:-2])
    with pytest.raises(
        UnsupportedNetwork, match=r"expected a residual block or the head, found end"
    ):
        build_onnx(truncated)


def test_padded_pool_is_unsupported(network: DlibNetwork) -> None:
    pool = network.layers[3]
    assert isinstance(pool, Pool)
    assert pool.kind is PoolKind.MAX
    padded = dataclasses.replace(pool, padding=(1, 1))
    changed = dataclasses.replace(
        network, layers=(*network.layers[:3], padded, *network.layers[4:])
    )
    with pytest.raises(UnsupportedNetwork, match=r"layer 3: expected max pool without padding"):
        build_onnx(changed)


def test_wrappers_mark_every_block(network: DlibNetwork) -> None:
    """The parsed layer list carries one wrapper per block plus two per downsampling block."""
    wrappers = sum(isinstance(layer, Wrapper) for layer in network.layers)
    assert wrappers == 14 + 2 * 4
