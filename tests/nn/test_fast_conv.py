"""FastConv2d's routes compute the same convolution as torch, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faceforge.machine import cpu_has_bf16
from faceforge.nn import fast_conv
from faceforge.nn.fast_conv import (
    FastConv2d,
    conv_route,
    gemm_conv2d,
    hybrid_conv2d,
    narrow_conv2d,
    torch_convolutions,
    use_cpu_kernels,
    winograd_conv3x3,
)
from faceforge.plugins.model import build_model


def _grads(function, x, weight, bias, grad_out):
    x, weight, bias = (t.detach().clone().requires_grad_() for t in (x, weight, bias))
    out = function(x, weight, bias)
    out.backward(grad_out)
    return out.detach(), x.grad, weight.grad, bias.grad


def _case(n, c, h, k, kernel, channels_last, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, h + 2 if kernel == 3 else h, generator=generator, dtype=torch.float64)
    weight = torch.randn(k, c, kernel, kernel, generator=generator, dtype=torch.float64) * 0.1
    bias = torch.randn(k, generator=generator, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        weight = weight.contiguous(memory_format=torch.channels_last)
    return x, weight, bias


@pytest.mark.parametrize("one_by_one", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("n", "c", "h", "k"), [(2, 8, 4, 16), (3, 5, 8, 7), (1, 16, 16, 4)])
def test_winograd_matches_direct_convolution_forward_and_backward(n, c, h, k, channels_last,
                                                                 one_by_one, monkeypatch):
    if one_by_one:  # the large-matrix path: 16 separate products instead of one bmm
        monkeypatch.setattr(fast_conv, "LOOP_MIN_MACS", 0)
    x, weight, bias = _case(n, c, h, k, 3, channels_last)
    reference = _grads(lambda x, w, b: F.conv2d(x, w, b, 1, 1), x, weight, bias,
                       grad_out := torch.randn(n, k, h, h + 2, dtype=torch.float64))
    result = _grads(winograd_conv3x3, x, weight, bias, grad_out)
    for got, want in zip(result, reference, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("kernel", "stride", "padding", "h"), [(5, 2, 2, 8), (3, 1, 1, 4),
                                                                 (5, 1, 2, 6), (3, 2, 1, 7)])
def test_gemm_matches_direct_convolution_forward_and_backward(kernel, stride, padding, h,
                                                              channels_last):
    x, weight, bias = _case(2, 6, h, 5, kernel, channels_last)
    x = x[..., :h]  # square maps, odd sizes included
    out_size = (h + 2 * padding - kernel) // stride + 1
    grad_out = torch.randn(2, 5, out_size, out_size, dtype=torch.float64)
    reference = _grads(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, weight, bias,
                       grad_out)
    result = _grads(lambda x, w, b: gemm_conv2d(x, w, b, stride, padding), x, weight, bias,
                    grad_out)
    for got, want in zip(result, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("route", "kernel", "stride", "k", "h"), [
    ("hybrid", 5, 2, 5, 16), ("hybrid", 5, 2, 5, 9), ("hybrid", 3, 1, 5, 6),
    ("narrow", 5, 1, 3, 9), ("narrow", 3, 1, 1, 6), ("narrow", 5, 1, 2, 4),
])
def test_onednn_forward_routes_match_direct_convolution_forward_and_backward(
        route, kernel, stride, k, h, channels_last):
    x, weight, bias = _case(2, 6, h, k, kernel, channels_last)
    x = x[..., :h]
    padding = kernel // 2
    out_size = (h + 2 * padding - kernel) // stride + 1
    grad_out = torch.randn(2, k, out_size, out_size, dtype=torch.float64)
    reference = _grads(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, weight, bias,
                       grad_out)
    function = {"hybrid": lambda x, w, b: hybrid_conv2d(x, w, b, stride, padding),
                "narrow": lambda x, w, b: narrow_conv2d(x, w, b, padding)}[route]
    for got, want in zip(_grads(function, x, weight, bias, grad_out), reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not cpu_has_bf16(), reason="the CPU has no bf16 instructions")
@pytest.mark.parametrize(("c", "h", "k", "stride", "kernel"), [(256, 4, 512, 1, 3),
                                                               (128, 16, 128, 1, 3),
                                                               (128, 8, 256, 2, 5),
                                                               (128, 16, 256, 2, 5),
                                                               (64, 16, 3, 1, 5)])
def test_bf16_error_stays_close_to_a_direct_bf16_convolution(c, h, k, stride, kernel):
    """Winograd adds rounding in its transforms; it must stay near bf16's own error."""
    conv = FastConv2d(c, k, kernel, stride, padding=kernel // 2).double()
    x = torch.randn(8, c, h, h, dtype=torch.float64)
    assert conv_route(x, conv) != "native"
    grad_out = torch.randn(8, k, h // stride, h // stride, dtype=torch.float64)
    x_ref, w_ref = x.clone().requires_grad_(), conv.weight.detach().clone().requires_grad_()
    F.conv2d(x_ref, w_ref, None, stride, kernel // 2).backward(grad_out)

    def relative_errors(function):
        xb = x.float().contiguous(memory_format=torch.channels_last).requires_grad_()
        wb = conv.weight.detach().float().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = function(xb, wb)
        out.backward(grad_out.to(out.dtype))
        reference = F.conv2d(x, conv.weight.detach(), None, stride, kernel // 2)
        return [float((got.detach().double() - want).norm() / want.norm()) for got, want in
                ((out, reference), (xb.grad, x_ref.grad), (wb.grad, w_ref.grad))]

    native = relative_errors(lambda x, w: F.conv2d(x, w, None, stride, kernel // 2))
    fast = relative_errors(lambda x, w: FastConv2d._conv_forward(conv, x, w, None))
    for fast_error, native_error in zip(fast, native, strict=True):
        assert fast_error < 2.5 * native_error + 1e-4, (fast, native)


def test_routes_follow_the_map_size_and_the_switch():
    model = build_model("original").to(memory_format=torch.channels_last)
    routes: dict[str, str] = {}

    def record(name: str):
        def hook(conv, args) -> None:
            routes[name] = conv_route(args[0], conv)
        return hook

    hooks = [module.register_forward_pre_hook(record(name))
             for name, module in model.named_modules() if isinstance(module, FastConv2d)]
    with torch.no_grad():
        model(torch.rand(2, 3, 64, 64), "a")
    for hook in hooks:
        hook.remove()
    assert routes == {
        "encoder.0.0": "native",  # 3 input channels: too little work per pixel
        "encoder.1.0": "native",
        "encoder.2.0": "hybrid",  # 5x5 stride 2 down to 8x8: GEMM weight gradient
        "encoder.3.0": "gemm",  # 5x5 stride 2 down to 4x4
        "encoder.5.0": "winograd",  # 3x3 on 4x4
        "decoder_a.face.0.0": "winograd",  # 8x8
        "decoder_a.face.1.0": "winograd",  # 16x16
        "decoder_a.face.2.0": "native",  # 32x32: oneDNN is faster
        "decoder_a.face.3.conv": "narrow",  # 64 -> 3: backward through the mirrored layer
    }
    conv = model.encoder[5][0]
    with torch_convolutions(model):
        assert conv_route(torch.rand(1, 1024, 4, 4), conv) == "native"
    assert conv_route(torch.rand(1, 1024, 4, 4), conv) == "winograd", "switched back on"
    use_cpu_kernels(model, False)
    assert conv_route(torch.rand(1, 1024, 4, 4), conv) == "native"
    assert conv_route(torch.rand(1, 1024, 4, 4, device="meta"), conv) == "native"
    reflecting = FastConv2d(1024, 64, 3, padding=1, padding_mode="reflect")
    assert conv_route(torch.rand(1, 1024, 4, 4), reflecting) == "native"


def test_weight_gradient_comes_back_in_the_weights_dtype_and_layout():
    torch.manual_seed(0)
    for conv, size in ((FastConv2d(1024, 64, 3, padding=1), 4), (FastConv2d(64, 32, 5, 2, 2), 8),
                       (FastConv2d(64, 32, 5, 2, 2), 16), (FastConv2d(64, 3, 5, 1, 2), 8)):
        conv = conv.to(memory_format=torch.channels_last)
        x = torch.randn(2, conv.in_channels, size, size).contiguous(
            memory_format=torch.channels_last)
        assert conv_route(x, conv) != "native"
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(x)
        assert out.dtype == torch.bfloat16
        out.float().sum().backward()
        assert conv.weight.grad.dtype == torch.float32
        assert conv.weight.grad.stride() == conv.weight.stride()
        assert conv.bias.grad.dtype == torch.float32


@pytest.mark.parametrize("name", ["original", "quick", "iae"])
def test_forward_pair_is_both_sides_forward(name):
    torch.manual_seed(0)
    model = build_model(name).double()
    size = model.input_size
    faces_a, faces_b = torch.rand(3, 3, size, size).double(), torch.rand(2, 3, size, size).double()
    pair_a, pair_b = model.forward_pair(faces_a, faces_b)
    torch.testing.assert_close(pair_a, model(faces_a, "a"), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(pair_b, model(faces_b, "b"), rtol=1e-9, atol=1e-9)
