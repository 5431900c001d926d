"""UpscaleBlock computes exactly conv + LeakyReLU + nn.PixelShuffle with the same weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faceforge.nn import DepthToSpace, UpscaleBlock
from faceforge.nn.fast_conv import conv_route


def _reference(block: UpscaleBlock, x: torch.Tensor) -> torch.Tensor:
    conv = block[0]
    out = F.conv2d(x, conv.weight, conv.bias, 1, conv.padding)
    return F.pixel_shuffle(F.leaky_relu(out, 0.1), 2)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("c", "size", "route"), [(8, 6, "native"), (128, 4, "winograd"),
                                                 (128, 5, "hybrid")])
def test_block_matches_conv_and_pixel_shuffle_forward_and_backward(c, size, route, channels_last):
    torch.manual_seed(0)
    block = UpscaleBlock(c, 5).double()
    x = torch.randn(2, c, size, size, dtype=torch.float64)
    if channels_last:
        block = block.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    assert conv_route(x, block[0]) == route
    grad_out = torch.randn(2, 5, 2 * size, 2 * size, dtype=torch.float64)
    results = []
    for function in (block, lambda t: _reference(block, t)):
        block.zero_grad(set_to_none=True)
        xg = x.detach().clone().requires_grad_()
        out = function(xg)
        out.backward(grad_out)
        results.append((out.detach(), xg.grad, block[0].weight.grad, block[0].bias.grad))
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    weight_grad = results[0][2]
    assert weight_grad.stride() == block[0].weight.stride()


def test_block_under_bf16_autocast_keeps_parameter_gradients_in_float32():
    torch.manual_seed(0)
    block = UpscaleBlock(16, 4).to(memory_format=torch.channels_last)
    x = torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x)
        reference = _reference(block, x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference.float(), rtol=0.02, atol=0.02)
    out.float().sum().backward()
    assert block[0].weight.grad.dtype == torch.float32
    assert block[0].bias.grad.dtype == torch.float32
    assert block[0].weight.grad.stride() == block[0].weight.stride()


@pytest.mark.parametrize("channels_last", [False, True])
def test_depth_to_space_order_and_layout(channels_last):
    x = torch.arange(2 * 12 * 3 * 3, dtype=torch.float32).view(2, 12, 3, 3)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = DepthToSpace(2)(x)
    # Output channel c at sub-pixel (i, j) reads input channel (i * 2 + j) * 3 + c.
    for c in range(3):
        for i in range(2):
            for j in range(2):
                assert torch.equal(out[:, c, i::2, j::2], x[:, (i * 2 + j) * 3 + c])
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
