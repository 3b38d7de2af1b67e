"""The dlib network reader: primitive codecs against an independent encoder, a synthetic
network, and the real dlib_face_recognition_resnet_model_v1.dat."""

from __future__ import annotations

import math
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from biometrics.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibFormatError,
    DlibReader,
    DlibTruncated,
    FullyConnected,
    Pool,
    PoolKind,
    Relu,
    Wrapper,
    parse_network,
    read_network,
)

# ---- an encoder written from dlib's serialize.h, used only to test the reader ----


def enc_int(value: int) -> bytes:
    magnitude = abs(value).to_bytes(8, "little").rstrip(b"\0") or b"\0"
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def enc_real(value: float) -> bytes:
    if math.isnan(value):
        return enc_int(0) + enc_int(32002)
    if math.isinf(value):
        return enc_int(0) + enc_int(32000 if value > 0 else 32001)
    fraction, exponent = math.frexp(value)
    return enc_int(int(fraction * 2**53)) + enc_int(exponent - 53)


def enc_str(text: str) -> bytes:
    return enc_int(len(text)) + text.encode("ascii")


def enc_bool(value: bool) -> bytes:
    return b"1" if value else b"0"


def enc_tensor(array: np.ndarray) -> bytes:
    dims = array.reshape((1,) * (4 - array.ndim) + array.shape).shape
    return enc_int(2) + b"".join(map(enc_int, dims)) + array.astype("<f4").tobytes()


def enc_alias(*dims: int) -> bytes:
    return enc_int(1) + b"".join(map(enc_int, dims))


STATE = enc_bool(True) * 2 + enc_bool(False) + enc_tensor(np.zeros((0, 0, 0, 0))) * 3
INT64 = st.integers(-(2**63), 2**63 - 1)


def synthetic_network() -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """input -> conv 3x3 (2 filters) -> relu -> tag -> add_prev -> fc 2->3 with bias."""
    filters = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7
    biases = np.array([0.5, -0.25], dtype=np.float32)
    fc = np.arange(9, dtype=np.float32).reshape(3, 3)  # rows: 2 inputs + bias
    multipliers = b"".join(enc_real(v) for v in (1.0, 1.0, 1.0, 0.0))
    conv = (
        enc_str("con_4")
        + enc_tensor(np.concatenate([filters.ravel(), biases]).reshape(-1, 1, 1, 1))
        + b"".join(map(enc_int, (2, 3, 3, 1, 1, 1, 1)))
        + enc_alias(2, 3, 3, 3)
        + enc_alias(1, 2, 1, 1)
        + multipliers
    )
    fc_record = (
        enc_str("fc_2")
        + enc_int(3)
        + enc_int(2)
        + enc_tensor(fc)
        + enc_alias(2, 3, 1, 1)
        + enc_alias(1, 3, 1, 1)
        + enc_int(0)
        + multipliers
    )
    data = (
        enc_int(1)
        + enc_str("loss_metric_2")
        + enc_real(0.04)
        + enc_real(0.6)
        + b"".join(map(enc_int, (2, 2, 1, 2, 3)))  # fc, add_prev, tag, relu, input add_layer
        + enc_str("input_rgb_image_sized")
        + b"".join(enc_real(m) for m in (122.5, 117.0, 104.25))
        + enc_int(150)
        + enc_int(150)
        + conv
        + STATE
        + enc_int(1)
        + enc_str("relu_")
        + STATE
        + enc_str("add_prev_")
        + STATE
        + fc_record
        + STATE
    )
    return data, filters, biases, fc


# ---- primitives ----


@given(INT64)
def test_integers_round_trip(value: int) -> None:
    reader = DlibReader(enc_int(value))
    assert reader.integer() == value
    assert reader.pos == len(enc_int(value))


def test_zero_is_01_00() -> None:
    assert enc_int(0) == b"\x01\x00"
    assert DlibReader(b"\x01\x00").integer() == 0


@given(st.integers(2**15, 2**40) | st.integers(-(2**40), -(2**15) - 1))
def test_integer_outside_its_c_type_is_refused(value: int) -> None:
    with pytest.raises(DlibFormatError, match=r"at byte 0: expected exponent, found .*int16"):
        DlibReader(enc_int(value)).integer("exponent", bits=16)


@given(st.integers(0, 255).filter(lambda b: b & 0x70))
def test_bad_control_byte_is_refused(control: int) -> None:
    with pytest.raises(DlibFormatError, match=f"found control byte 0x{control:02x}") as info:
        DlibReader(bytes([control]) + bytes(16)).integer()
    assert info.value.code == "dlib_format"
    assert info.value.offset == 0


@given(st.integers(9, 15), st.booleans())
def test_magnitude_wider_than_eight_bytes_is_refused(size: int, negative: bool) -> None:
    control = size | (0x80 if negative else 0)
    with pytest.raises(DlibFormatError, match=f"found {size}-byte magnitude .*int64"):
        DlibReader(bytes([control]) + bytes(16)).integer()


def test_float_example_from_the_file_is_mantissa_then_exponent() -> None:
    reader = DlibReader(bytes.fromhex("030ad7a3811c"))
    assert reader.real() == float(np.float32(0.04))


@given(st.floats(allow_nan=False, allow_subnormal=False))
def test_reals_round_trip(value: float) -> None:
    assert DlibReader(enc_real(value)).real() == value


def test_nan_special() -> None:
    assert math.isnan(DlibReader(enc_real(math.nan)).real())


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=300))
def test_strings_round_trip(text: str) -> None:
    assert DlibReader(enc_str(text)).string() == text


def test_non_ascii_string_is_refused() -> None:
    with pytest.raises(DlibFormatError, match=r"at byte 0: expected layer name \(ASCII\)"):
        DlibReader(enc_int(2) + "é".encode()).string("layer name")


@given(st.booleans())
def test_bools_round_trip(value: bool) -> None:
    assert DlibReader(enc_bool(value)).boolean() is value


def test_bool_must_be_ascii_digit() -> None:
    with pytest.raises(DlibFormatError, match=r"at byte 0: expected flag \('0' or '1'\)"):
        DlibReader(b"\x01").boolean("flag")


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=4, max_dims=4, min_side=0, max_side=5)))
def test_tensors_round_trip(array: np.ndarray) -> None:
    decoded = DlibReader(enc_tensor(array)).tensor()
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, array)


def test_tensor_version_is_checked() -> None:
    with pytest.raises(DlibFormatError, match=r"expected params version = 2, found 7"):
        DlibReader(enc_int(7) + enc_int(0) * 4).tensor("params")


def test_absurd_tensor_dimensions_are_refused_before_allocating() -> None:
    data = enc_int(2) + b"".join(map(enc_int, (2**20, 2**20, 1, 1)))
    with pytest.raises(DlibFormatError, match=r"expected t dimensions, found \(1048576"):
        DlibReader(data).tensor("t")


ENCODED = st.one_of(
    INT64.map(lambda v: ("integer", enc_int(v))),
    st.floats(allow_nan=False).map(lambda v: ("real", enc_real(v))),
    st.text(alphabet=st.characters(max_codepoint=127), min_size=1).map(
        lambda v: ("string", enc_str(v))
    ),
    hnp.arrays(np.float32, (1, 2, 3, 1)).map(lambda v: ("tensor", enc_tensor(v))),
)


@given(ENCODED, st.data())
def test_any_truncated_value_raises_truncated(case: tuple[str, bytes], data: st.DataObject) -> None:
    method, encoded = case
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(DlibTruncated, match=r"found end of file \(\d+ bytes needed") as info:
        getattr(DlibReader(encoded[:cut]), method)()
    assert info.value.code == "dlib_truncated"
    assert 0 <= info.value.offset <= cut


# ---- whole networks ----


def test_synthetic_network_parses_into_typed_records() -> None:
    data, filters, biases, fc = synthetic_network()
    net = parse_network(data)
    assert net.input.means == (122.5, 117.0, 104.25)
    assert (net.input.rows, net.input.cols) == (150, 150)
    assert net.loss.threshold == 0.6
    assert [type(layer) for layer in net.layers] == [Conv, Relu, Wrapper, AddPrev, FullyConnected]
    conv, fc_layer = net.layers[0], net.layers[4]
    assert isinstance(conv, Conv)
    assert isinstance(fc_layer, FullyConnected)
    np.testing.assert_array_equal(conv.filters, filters)
    np.testing.assert_array_equal(conv.biases, biases)
    assert (conv.stride, conv.padding) == ((1, 1), (1, 1))
    np.testing.assert_array_equal(fc_layer.weights, fc[:2])
    assert fc_layer.bias is not None
    np.testing.assert_array_equal(fc_layer.bias, fc[2])
    assert net.parameter_count == filters.size + biases.size + fc.size


@given(st.data())
def test_truncated_network_names_offset_and_what_was_expected(data: st.DataObject) -> None:
    encoded = synthetic_network()[0]
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(
        DlibTruncated, match=r"dlib file at byte \d+: expected .+, found end of file"
    ):
        parse_network(encoded[:cut])


def test_trailing_bytes_are_refused() -> None:
    encoded = synthetic_network()[0]
    with pytest.raises(DlibFormatError, match=f"at byte {len(encoded)}: expected end of file"):
        parse_network(encoded + b"\x01\x00")


def test_unknown_layer_is_refused_with_its_name() -> None:
    encoded = synthetic_network()[0].replace(b"\x05relu_", b"\x05selu_")
    with pytest.raises(DlibFormatError, match=r"expected one of con_4, .*found 'selu_'"):
        parse_network(encoded)


def test_foreign_file_is_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    with pytest.raises(DlibFormatError, match=r"at byte 0: expected loss layer version"):
        parse_network(png)


# ---- the real file ----


@pytest.fixture(scope="module")
def weights() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


def test_real_file_has_dlibs_face_resnet(weights: Path) -> None:
    net = read_network(weights)
    kinds = Counter(type(layer) for layer in net.layers)
    pools = Counter(layer.kind for layer in net.layers if isinstance(layer, Pool))
    assert kinds[Conv] == 29
    assert kinds[Affine] == 29
    assert kinds[Relu] == 29
    assert kinds[AddPrev] == 14
    assert kinds[FullyConnected] == 1
    assert pools == {PoolKind.MAX: 1, PoolKind.AVG: 5}
    assert net.parameter_count == 5_614_592
    assert net.input.rows == net.input.cols == 150
    assert [round(m, 3) for m in net.input.means] == [122.782, 117.001, 104.298]
    assert net.loss.threshold == pytest.approx(0.6)


def test_real_file_convolutions_follow_dlibs_padding_rule(weights: Path) -> None:
    convs = [layer for layer in read_network(weights).layers if isinstance(layer, Conv)]
    for conv in convs:
        k = conv.filters.shape[2]
        assert conv.padding == ((0, 0) if conv.stride != (1, 1) else (k // 2, k // 2))
    assert convs[0].filters.shape == (32, 3, 7, 7)
    assert convs[0].stride == (2, 2)


def test_real_file_fc_has_no_bias(weights: Path) -> None:
    fc = read_network(weights).layers[-1]
    assert isinstance(fc, FullyConnected)
    assert fc.weights.shape == (256, 128)
    assert fc.bias is None


def test_real_file_truncated_in_the_first_filters(weights: Path) -> None:
    data = weights.read_bytes()
    start = data.index(b"con_4") + len(b"con_4")  # the params tensor follows the name
    header = len(enc_int(2) + enc_int(4736) + enc_int(1) * 3)
    with pytest.raises(
        DlibTruncated,
        match=rf"at byte {start + header}: expected con_ params data \(4736, 1, 1, 1\), "
        rf"found end of file \(18944 bytes needed, {1000 - header} left\)",
    ):
        parse_network(data[: start + 1000])


def test_real_file_first_float_is_float32_bits(weights: Path) -> None:
    """The raw tensor data is little-endian IEEE float32, not dlib's mantissa/exponent."""
    data = weights.read_bytes()
    start = data.index(b"con_4") + len(b"con_4")
    header = len(enc_int(2) + enc_int(4736) + enc_int(1) * 3)
    conv = next(layer for layer in read_network(weights).layers if isinstance(layer, Conv))
    first = struct.unpack_from("<f", data, start + header)[0]
    assert conv.filters.ravel()[0] == np.float32(first)
