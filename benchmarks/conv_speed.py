"""Forward + backward time of each convolution of a model, by every route FastConv2d knows.

Shows why :mod:`faceforge.nn.fast_conv` routes what it routes: for every distinct convolution
of the model at the batch a training step gives it (the shared encoder sees both sides' batches
at once), the time of one forward and backward pass in bf16 (fp32 where the CPU lacks bf16),
channels-last, by oneDNN (``native``) and by each rewrite that applies, and the route
``FastConv2d`` picks.

    .venv/bin/python benchmarks/conv_speed.py                      # original, batch 16 and 64
    .venv/bin/python benchmarks/conv_speed.py --model quick --batch-sizes 64
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from faceforge.allocator import reuse_freed_memory
from faceforge.machine import cpu_has_bf16
from faceforge.nn.fast_conv import (
    FastConv2d,
    conv_route,
    gemm_conv2d,
    hybrid_conv2d,
    narrow_conv2d,
    winograd_conv3x3,
)
from faceforge.plugins.model import build_model


def conv_inputs(model_name: str, batch: int) -> list[tuple[str, FastConv2d, tuple[int, ...]]]:
    """(layer name, conv, input shape) for each convolution, in the order a step meets them."""
    model = build_model(model_name)
    shapes: list[tuple[str, FastConv2d, tuple[int, ...]]] = []
    hooks = [
        module.register_forward_pre_hook(
            lambda mod, args, name=name: shapes.append((name, mod, tuple(args[0].shape))))
        for name, module in model.named_modules() if isinstance(module, FastConv2d)
    ]
    with torch.no_grad():
        faces = torch.rand(batch, 3, model.input_size, model.input_size)
        model.forward_pair(faces, faces)
    for hook in hooks:
        hook.remove()
    seen: set[tuple] = set()
    unique = []
    for name, conv, shape in shapes:
        key = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, shape)
        if key not in seen:
            seen.add(key)
            unique.append((name, conv, shape))
    return unique


ROUTES = ("native", "gemm", "hybrid", "narrow", "winograd")


def routes_for(conv: FastConv2d, x: torch.Tensor) -> dict[str, object]:
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    h, w = x.shape[-2:]
    routes: dict[str, object] = {
        "native": lambda x, wt, b: F.conv2d(x, wt, b, s, p),
        "gemm": lambda x, wt, b: gemm_conv2d(x, wt, b, s, p),
        "hybrid": lambda x, wt, b: hybrid_conv2d(x, wt, b, s, p),
    }
    if s == 1 and 2 * p + 1 == k:
        routes["narrow"] = lambda x, wt, b: narrow_conv2d(x, wt, b, p)
    if (k, s, p) == (3, 1, 1) and h % 2 == 0 and w % 2 == 0:
        routes["winograd"] = winograd_conv3x3
    return routes


def time_route(function, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               repeats: int) -> float:
    def once() -> None:
        x.grad = weight.grad = bias.grad = None
        out = function(x, weight, bias)
        out.backward(torch.ones_like(out))

    once()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="original")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reuse_freed_memory()  # as `faceforge train` does
    dtype = torch.bfloat16 if cpu_has_bf16() else torch.float32
    print(f"torch {torch.__version__}; threads {torch.get_num_threads()}; dtype {dtype}; "
          f"model {args.model}; times are the best of {args.repeats}, forward + backward\n")
    print("| batch | layer | input | kernel | " + " | ".join(
        ROUTES) + " | picked |")
    print("|---:|---|---|---|" + "---:|" * len(ROUTES) + "---|")
    for batch in args.batch_sizes:
        for name, conv, shape in conv_inputs(args.model, batch):
            x = torch.randn(shape, dtype=dtype).contiguous(memory_format=torch.channels_last)
            x.requires_grad_()
            weight = conv.weight.detach().to(dtype).requires_grad_()
            bias = conv.bias.detach().to(dtype).requires_grad_()
            routes = routes_for(conv, x)
            cells = []
            for route in ROUTES:
                if route not in routes:
                    cells.append("")
                    continue
                seconds = time_route(routes[route], x, weight, bias, args.repeats)
                cells.append(f"{seconds * 1000:.0f} ms")
            k = conv.kernel_size[0]
            print(f"| {batch} | {name} | {'x'.join(map(str, shape))} | {k}x{k}/{conv.stride[0]} "
                  f"→ {conv.out_channels} | " + " | ".join(cells)
                  + f" | {conv_route(x, conv)} |", flush=True)


if __name__ == "__main__":
    main()
