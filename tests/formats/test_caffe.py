"""Caffe network definitions and weights read without Caffe: protobuf text and wire format."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from faceforge.errors import FormatError
from faceforge.formats.caffe import parse_caffemodel, parse_prototxt, read_caffemodel

PROTOTXT = '''
# a comment
input: "data"
input_shape { dim: 1 dim: 3 dim: 300 dim: 300 }
layer {
  name: "conv1"  type: "Convolution"  bottom: "data"  top: "conv1"
  convolution_param { num_output: 32 pad: 3 kernel_size: 7 stride: 2 bias_term: true }
}
layer {
  name: "pool" type: "Pooling" bottom: "conv1" top: "pool"
  pooling_param: { pool: MAX kernel_size: 3 stride: 2 }
  prior_box_param { variance: 0.1 variance: 0.2 step: -1.5 }
}
'''


def test_prototxt_fields_nest_and_repeat():
    net = parse_prototxt(PROTOTXT)
    assert net["input"] == ["data"]
    assert net["input_shape"][0]["dim"] == [1, 3, 300, 300]
    conv, pool = net["layer"]
    assert conv["name"] == ["conv1"] and conv["type"] == ["Convolution"]
    assert conv["convolution_param"][0]["bias_term"] == [True]
    assert pool["pooling_param"][0]["pool"] == ["MAX"]
    assert pool["prior_box_param"][0]["variance"] == [0.1, 0.2]
    assert pool["prior_box_param"][0]["step"] == [-1.5]


@pytest.mark.parametrize("bad", ["layer { name: 1", "layer }", "name"])
def test_broken_prototxt_is_refused(bad):
    with pytest.raises(ValueError):
        parse_prototxt(bad)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def _blob(array: np.ndarray, packed: bool = True) -> bytes:
    shape = _field(7, 2, _field(1, 2, b"".join(_varint(d) for d in array.shape)))
    floats = array.astype("<f4").ravel()
    if packed:
        data = _field(5, 2, floats.tobytes())
    else:
        data = b"".join(_field(5, 5, struct.pack("<f", v)) for v in floats)
    return shape + data


def test_caffemodel_blobs_come_back_by_layer_with_their_shapes():
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(4, 3, 2, 2)), rng.normal(size=4)
    layer = (_field(1, 2, b"conv1") + _field(2, 2, b"Convolution")
             + _field(7, 2, _blob(weight)) + _field(7, 2, _blob(bias, packed=False)))
    other = _field(1, 2, b"relu") + _field(2, 2, b"ReLU")  # no blobs: not listed
    model = _field(1, 2, b"net") + _field(100, 2, layer) + _field(100, 2, other)
    layers = parse_caffemodel(model)
    assert list(layers) == ["conv1"]
    got_weight, got_bias = layers["conv1"]
    np.testing.assert_array_equal(got_weight, weight.astype(np.float32))
    np.testing.assert_array_equal(got_bias, bias.astype(np.float32))


def test_a_truncated_caffemodel_is_one_format_error(tmp_path):
    layer = _field(1, 2, b"conv1") + _field(7, 2, _blob(np.ones((2, 2))))
    data = _field(100, 2, layer)
    (tmp_path / "m.caffemodel").write_bytes(data[:-3])
    with pytest.raises(FormatError, match="not a Caffe model"):
        read_caffemodel(tmp_path / "m.caffemodel")
