"""Convolutions for the small, wide feature maps where oneDNN's CPU kernels are slow.

On a CPU, oneDNN runs the convolutions of large feature maps close to the machine's peak, but
the 4x4 to 16x16 maps at the narrow end of the autoencoders (1024 → 2048 channels on a 4x4 map
in ``original``) run their backward pass at a third of it, and so does the wide 64 → 3 output
convolution. Rewrites of the same maths, mostly as large matrix products, fix that:

- **Winograd F(2x2, 3x3)** for stride-1 3x3 convolutions on even maps up to 16x16: each 2x2
  output tile is computed from a 4x4 input tile with 16 products where direct convolution needs
  36, so the work falls to 44%. The transforms only use 0, ±1 and ±1/2, which are exact in
  bf16; measured error is about twice that of a direct bf16 convolution (still within bf16's
  own rounding), unlike F(4x4, 3x3), whose error is about twelve times larger.
- **im2col + GEMM** for other convolutions with a tiny output (strided 5x5 down to 4x4): the
  patches are gathered once and the forward and both backward products are plain GEMMs.
- **oneDNN with a GEMM weight gradient** for small outputs up to 8x8 (strided 5x5 16x16 → 8x8):
  oneDNN's forward and input gradient are fast there, its weight gradient runs at half speed,
  so only that one is an im2col GEMM (the patches are gathered again in the backward pass,
  which costs a few milliseconds and no memory between the passes).
- **The mirrored layer's kernels for narrow outputs** (stride-1 "same" convolutions to fewer
  than 8 channels, such as the 64 → 3 face output): oneDNN's backward pass for 3 output
  channels is slow, but the same two gradients are the forward pass and the weight gradient
  of the mirrored 3 → 64 layer, which run about 2x faster.

:class:`FastConv2d` is a drop-in ``nn.Conv2d`` (same parameters and state-dict keys) that picks
one of these per call on CPU tensors and defers to ``torch.nn.functional.conv2d`` everywhere
else (GPUs, large maps, odd shapes). ``benchmarks/conv_speed.py`` measures each choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FastConv2d",
    "conv_route",
    "gemm_conv2d",
    "hybrid_conv2d",
    "narrow_conv2d",
    "torch_convolutions",
    "use_cpu_kernels",
    "winograd_conv3x3",
]

# Largest map (height x width: Winograd's input, the GEMM's output) each rewrite is used for;
# beyond these oneDNN is as fast or faster (benchmarks/conv_speed.py).
WINOGRAD_MAX_PIXELS = 256
GEMM_MAX_PIXELS = 16
HYBRID_MAX_PIXELS = 64
# Stride-1 "same" convolutions with fewer output channels than this use the adjoint backward.
NARROW_MAX_CHANNELS = 8
NARROW_MIN_IN_CHANNELS = 16
# Winograd's 16 products run one by one from this many multiply-adds each (see _bmm).
LOOP_MIN_MACS = 1 << 29
# Below this much work per output pixel (in_channels x kernel area) oneDNN is fine as it is.
MIN_PATCH = 1024



def use_cpu_kernels(module: nn.Module, enabled: bool) -> None:
    """Switch faceforge's CPU kernels on or off for every :class:`FastConv2d` in `module`.

    Off, each runs ``F.conv2d`` (PyTorch's oneDNN kernels): the automatic choice measures both
    (the thresholds above were tuned on one CPU, and other CPUs differ), and references and
    FLOP counts use the direct algorithm.
    """
    for layer in module.modules():
        if isinstance(layer, FastConv2d):
            layer.cpu_kernels = enabled


@contextmanager
def torch_convolutions(module: nn.Module) -> Iterator[None]:
    """Within this block `module`'s convolutions run ``F.conv2d``; then they are as before."""
    layers = [layer for layer in module.modules() if isinstance(layer, FastConv2d)]
    previous = [layer.cpu_kernels for layer in layers]
    use_cpu_kernels(module, False)
    try:
        yield
    finally:
        for layer, enabled in zip(layers, previous, strict=True):
            layer.cpu_kernels = enabled


@cache
def _winograd_matrices(dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """Kronecker squares of F(2x2, 3x3)'s input, kernel and output transforms (exact in bf16)."""
    input_t = torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
                           dtype=torch.float32)
    kernel_t = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
                            dtype=torch.float32)
    output_t = torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=torch.float32)
    return tuple(torch.kron(m, m).to(dtype) for m in (input_t, kernel_t, output_t))


def _bmm(a: Tensor, b: Tensor) -> Tensor:
    """``torch.bmm``, as one ``mm`` per matrix when the matrices are large: there oneDNN's
    batched bf16 product runs 5-25% slower than the same products one by one, while for
    smaller ones (``quick``, batch 16) the batched call is as fast or faster."""
    if a.shape[1] * a.shape[2] * b.shape[2] < LOOP_MIN_MACS:
        return torch.bmm(a, b)
    out = a.new_empty((a.shape[0], a.shape[1], b.shape[2]))
    for i in range(a.shape[0]):
        torch.mm(a[i], b[i], out=out[i])
    return out


def _fold(patches: Tensor, h: int, w: int, stride: int, padding: int) -> Tensor:
    """Sum per-patch gradients (kh, kw, N, OH, OW, C) back onto the (N, C, H, W) input map."""
    kh, kw, n, oh, ow, c = patches.shape
    padded = patches.new_zeros(n, h + 2 * padding, w + 2 * padding, c)
    for i in range(kh):
        for j in range(kw):
            padded[:, i:i + stride * (oh - 1) + 1:stride,
                   j:j + stride * (ow - 1) + 1:stride] += patches[i, j]
    return padded[:, padding:padding + h, padding:padding + w].permute(0, 3, 1, 2)


class _Winograd3x3(torch.autograd.Function):
    """Stride-1, padding-1 3x3 convolution of an even-sized map by Winograd F(2x2, 3x3)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        n, c, h, w = x.shape
        k = weight.shape[0]
        th, tw = h // 2, w // 2
        tiles = n * th * tw
        input_t, kernel_t, output_t = _winograd_matrices(x.dtype)
        padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1))  # N, H+2, W+2, C
        patches = padded.unfold(1, 4, 2).unfold(2, 4, 2)  # N, th, tw, C, 4, 4 (a view)
        d = patches.permute(4, 5, 0, 1, 2, 3).reshape(16, tiles * c)
        v = (input_t @ d).view(16, tiles, c)
        # Kernel transforms as (16, K, C): C stays innermost, so no copy transposes elements.
        # The weight arrives in its master precision; one copy casts it and lays it out.
        kernel = weight.new_empty((3, 3, k, c), dtype=x.dtype)
        kernel.copy_(weight.permute(2, 3, 0, 1))
        u = (kernel_t @ kernel.view(9, k * c)).view(16, k, c)
        m = _bmm(v, u.transpose(1, 2))  # 16, tiles, K
        y = (output_t @ m.view(16, tiles * k)).view(2, 2, n, th, tw, k)
        out = y.permute(2, 3, 0, 4, 1, 5).reshape(n, h, w, k)
        ctx.save_for_backward(v, u)
        ctx.shape = (n, c, h, w, k)
        ctx.weight_like = torch.empty_like(weight, device="meta")
        return out.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        v, u = ctx.saved_tensors
        n, c, h, w, k = ctx.shape
        th, tw = h // 2, w // 2
        tiles = n * th * tw
        input_t, kernel_t, output_t = _winograd_matrices(v.dtype)
        grad = grad.to(v.dtype).permute(0, 2, 3, 1).reshape(n, th, 2, tw, 2, k)
        grad_y = grad.permute(2, 4, 0, 1, 3, 5).reshape(4, tiles * k)
        grad_m = (output_t.t() @ grad_y).view(16, tiles, k)
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            grad_u = _bmm(grad_m.transpose(1, 2), v)  # 16, K, C
            grad_kernel = (kernel_t.t() @ grad_u.view(16, k * c)).view(3, 3, k, c)
            # Straight into the weight's own dtype and layout, so autograd copies nothing.
            grad_w = torch.empty_like(ctx.weight_like, device=grad.device)
            grad_w.copy_(grad_kernel.permute(2, 3, 0, 1))
        if ctx.needs_input_grad[0]:
            grad_v = _bmm(grad_m, u)  # 16, tiles, C
            grad_d = (input_t.t() @ grad_v.view(16, tiles * c)).view(4, 4, n, th, tw, c)
            grad_x = _fold(grad_d, h, w, stride=2, padding=1)
        return grad_x, grad_w


def _im2col(x: Tensor, kh: int, kw: int, oh: int, ow: int, stride: int, padding: int) -> Tensor:
    """Patches of an (N, C, H, W) map as an (N * OH * OW, KH * KW * C) matrix, C innermost."""
    n, c = x.shape[:2]
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, padding, padding, padding, padding))
    return torch.cat([
        padded[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
        for i in range(kh) for j in range(kw)
    ], dim=-1).view(n * oh * ow, kh * kw * c)


def _weight_grad(grad2d: Tensor, cols: Tensor, weight_like: Tensor, kh: int, kw: int) -> Tensor:
    """``grad2d.T @ cols`` as a (K, C, KH, KW) gradient in the weight's own dtype and layout."""
    k = grad2d.shape[1]
    grad_kernel = (grad2d.t() @ cols).view(k, kh, kw, -1).permute(0, 3, 1, 2)
    return torch.empty_like(weight_like, device=grad2d.device).copy_(grad_kernel)


class _GemmConv(torch.autograd.Function):
    """Any-stride convolution as one im2col GEMM, with GEMM-only backward."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride: int, padding: int) -> Tensor:
        n, c, h, w = x.shape
        k, _, kh, kw = weight.shape
        oh = (h + 2 * padding - kh) // stride + 1
        ow = (w + 2 * padding - kw) // stride + 1
        cols = _im2col(x, kh, kw, oh, ow, stride, padding)
        kernel = weight.permute(0, 2, 3, 1).to(x.dtype).reshape(k, kh * kw * c)
        out = cols @ kernel.t()
        ctx.save_for_backward(cols, kernel)
        ctx.weight_like = torch.empty_like(weight, device="meta")
        ctx.geometry = (n, c, h, w, k, kh, kw, oh, ow, stride, padding)
        return out.view(n, oh, ow, k).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: Tensor):
        cols, kernel = ctx.saved_tensors
        n, c, h, w, k, kh, kw, oh, ow, stride, padding = ctx.geometry
        grad = grad.to(cols.dtype).permute(0, 2, 3, 1).reshape(n * oh * ow, k)
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = _weight_grad(grad, cols, ctx.weight_like, kh, kw)
        if ctx.needs_input_grad[0]:
            grad_cols = (grad @ kernel).view(n, oh, ow, kh, kw, c)
            grad_x = _fold(grad_cols.permute(3, 4, 0, 1, 2, 5), h, w, stride, padding)
        return grad_x, grad_w, None, None


def _bias_grad(grad: Tensor, bias_dtype: torch.dtype) -> Tensor:
    """Sum of an (N, K, H, W) output gradient per channel, accumulated in float32 or better."""
    total = grad.sum((0, 2, 3), dtype=torch.promote_types(grad.dtype, torch.float32))
    return total.to(bias_dtype)


class _NativeForwardConv(torch.autograd.Function):
    """oneDNN's forward pass (weight cast as autocast would); subclasses give the backward."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int,
                padding: int) -> Tensor:
        kernel = weight.to(x.dtype)
        out = F.conv2d(x, kernel, None if bias is None else bias.to(x.dtype), stride, padding)
        ctx.save_for_backward(x, kernel)
        ctx.weight_like = torch.empty_like(weight, device="meta")
        ctx.geometry = (stride, padding, None if bias is None else bias.dtype)
        return out


class _HybridConv(_NativeForwardConv):
    """oneDNN forward and input gradient; the weight gradient as one im2col GEMM."""

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, kernel = ctx.saved_tensors
        stride, padding, bias_dtype = ctx.geometry
        grad = grad.to(x.dtype)
        k, _, kh, kw = kernel.shape
        oh, ow = grad.shape[-2:]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, kernel, None, [stride, stride], [padding, padding], [1, 1], False,
                [0, 0], 1, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            cols = _im2col(x, kh, kw, oh, ow, stride, padding)
            grad2d = grad.permute(0, 2, 3, 1).reshape(-1, k)
            grad_w = _weight_grad(grad2d, cols, ctx.weight_like, kh, kw)
        if bias_dtype is not None and ctx.needs_input_grad[2]:
            grad_b = _bias_grad(grad, bias_dtype)
        return grad_x, grad_w, grad_b, None, None


class _NarrowConv(_NativeForwardConv):
    """oneDNN forward; the backward pass through the mirrored layer (``K -> C`` channels).

    For a stride-1 convolution with symmetric "same" padding, the input gradient is the
    forward convolution of the output gradient with the flipped, transposed kernel, and the
    weight gradient is that mirrored layer's weight gradient (input and output gradient
    swapped), flipped back. oneDNN runs both far faster than the backward pass of a layer with
    a handful of output channels.
    """

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, kernel = ctx.saved_tensors
        _, padding, bias_dtype = ctx.geometry
        memory_format = (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
                         else torch.contiguous_format)
        grad = grad.to(x.dtype).contiguous(memory_format=memory_format)
        mirrored = kernel.flip(2, 3).transpose(0, 1).contiguous(memory_format=memory_format)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, mirrored, None, 1, padding)
        if ctx.needs_input_grad[1]:
            grad_mirrored = torch.ops.aten.convolution_backward(
                x, grad, mirrored, None, [1, 1], [padding, padding], [1, 1], False, [0, 0], 1,
                [False, True, False])[1]
            grad_w = torch.empty_like(ctx.weight_like, device=grad.device)
            grad_w.copy_(grad_mirrored.flip(2, 3).transpose(0, 1))
        if bias_dtype is not None and ctx.needs_input_grad[2]:
            grad_b = _bias_grad(grad, bias_dtype)
        return grad_x, grad_w, grad_b, None, None


class _SubpixelOrder(torch.autograd.Function):
    """A weight or bias with its output channels regrouped sub-pixel-major, cast, in one copy.

    Stored order is torch's ``pixel_shuffle`` order (channel ``c * g + q`` for sub-pixel ``q``);
    the copy puts sub-pixel ``q`` of every channel together (``q * C + c``), the order
    :class:`faceforge.nn.blocks.DepthToSpace` reads, whose backward pass then moves whole
    channel runs instead of single values. The gradient comes back in the stored order and
    in the parameter's own dtype and layout, again in one copy.
    """

    @staticmethod
    def forward(ctx, weight: Tensor, groups: int, dtype: torch.dtype) -> Tensor:
        rest = weight.shape[1:]
        out = torch.empty_like(weight, dtype=dtype)
        out.view(groups, -1, *rest).copy_(weight.view(-1, groups, *rest).transpose(0, 1))
        ctx.weight_like = torch.empty_like(weight, device="meta")
        ctx.groups = groups
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        rest = grad.shape[1:]
        grad_w = torch.empty_like(ctx.weight_like, device=grad.device)
        grad_w.view(-1, ctx.groups, *rest).copy_(grad.view(ctx.groups, -1, *rest).transpose(0, 1))
        return grad_w, None, None


def winograd_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv2d(x, weight, bias, 1, 1)`` by Winograd F(2x2, 3x3); needs even H and W."""
    out = _Winograd3x3.apply(x, weight)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def gemm_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                padding: int = 0) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` as one im2col matrix product."""
    out = _GemmConv.apply(x, weight, stride, padding)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def hybrid_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                  padding: int = 0) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` whose weight gradient is a GEMM."""
    return _HybridConv.apply(x, weight, bias, stride, padding)


def narrow_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  padding: int = 0) -> Tensor:
    """Stride-1 ``F.conv2d(x, weight, bias, 1, padding)`` (with ``2 * padding + 1`` the kernel
    size) whose backward pass runs through the mirrored layer."""
    return _NarrowConv.apply(x, weight, bias, 1, padding)


def conv_route(x: Tensor, conv: nn.Conv2d) -> str:
    """Which implementation :class:`FastConv2d` uses for this input.

    One of ``winograd``, ``gemm``, ``hybrid``, ``narrow`` or ``native``.
    """
    if not getattr(conv, "cpu_kernels", True) or x.device.type != "cpu" or conv.groups != 1 \
            or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or x.dim() != 4:
        return "native"
    kh, kw = conv.kernel_size
    stride, padding = conv.stride, conv.padding
    if kh != kw or stride[0] != stride[1] or not isinstance(padding, tuple) \
            or padding[0] != padding[1]:
        return "native"
    if stride[0] == 1 and 2 * padding[0] + 1 == kh and conv.out_channels < NARROW_MAX_CHANNELS \
            and conv.in_channels >= NARROW_MIN_IN_CHANNELS:
        return "narrow"
    if conv.in_channels * kh * kw < MIN_PATCH:
        return "native"
    h, w = x.shape[-2:]
    if (kh, stride[0], padding[0]) == (3, 1, 1) and h % 2 == 0 and w % 2 == 0 \
            and h * w <= WINOGRAD_MAX_PIXELS:
        return "winograd"
    out_h = (h + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (w + 2 * padding[0] - kw) // stride[0] + 1
    if out_h * out_w <= GEMM_MAX_PIXELS:
        return "gemm"
    if out_h * out_w <= HYBRID_MAX_PIXELS:
        return "hybrid"
    return "native"


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d`` that routes small, wide CPU convolutions to Winograd or a GEMM.

    Parameters, initialisation and state-dict keys are those of ``nn.Conv2d``, so saved models
    load either way. Under CPU autocast the inputs are cast as autocast would cast them.

    ``subpixel_groups = g`` (set by an upscale block) makes the output channels come out
    sub-pixel-major (see :class:`_SubpixelOrder`) for a ``DepthToSpace`` that follows; the
    parameters keep torch's ``pixel_shuffle`` meaning, so the block computes exactly what
    conv + ``nn.PixelShuffle`` computes with the same weights.
    """

    subpixel_groups = 1
    #: False runs every call through ``F.conv2d`` (see :func:`use_cpu_kernels`).
    cpu_kernels = True

    def extra_repr(self) -> str:
        extra = f", subpixel_groups={self.subpixel_groups}" if self.subpixel_groups > 1 else ""
        return super().extra_repr() + extra

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.subpixel_groups > 1:
            device = x.device.type
            dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) \
                else weight.dtype
            weight = _SubpixelOrder.apply(weight, self.subpixel_groups, dtype)
            if bias is not None:
                bias = _SubpixelOrder.apply(bias, self.subpixel_groups, dtype)
        route = conv_route(x, self)
        if route == "native":
            return super()._conv_forward(x, weight, bias)
        # The functions cast the weight themselves (into the layout they need, in one copy)
        # and hand its gradient back in the weight's own dtype and layout.
        if torch.is_autocast_enabled("cpu"):
            x = x.to(torch.get_autocast_dtype("cpu"))
        if route == "hybrid":
            return hybrid_conv2d(x, weight, bias, self.stride[0], self.padding[0])
        if route == "narrow":
            return narrow_conv2d(x, weight, bias, self.padding[0])
        if bias is not None:
            bias = bias.to(x.dtype)
        if route == "winograd":
            return winograd_conv3x3(x, weight, bias)
        return gemm_conv2d(x, weight, bias, self.stride[0], self.padding[0])
