"""Speed of the batched training augmentation and of the masked face loss on this CPU.

Run: python benchmarks/augment_speed.py [--threads 2] [--repeats 10]
Prints milliseconds per batch (best of the repeats) for ``augment_batch`` at batch 16 and 64,
64 and 128 px, with the default config (colour + CLAHE + affine + warp), without colour, and
with warp-to-landmarks; and for ``face_loss`` (SSIM + MSE, face/eye/mouth masks) forward and
backward. Recorded results are kept at the bottom of this file.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch

from faceforge.nn.losses import LossConfig, face_loss
from faceforge.training.augment import AugmentConfig, augment_batch


def best_ms(step: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up, in milliseconds."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or 'cpu'}")

    configs = {
        "default": AugmentConfig(),
        "no colour": AugmentConfig(color=False),
        "warp to lm": AugmentConfig(warp_to_landmarks=True),
    }
    print(f"{'case':<28}{'batch':>6}{'size px':>8}{'ms/batch':>10}{'faces/s':>10}")
    for size in (64, 128):
        for batch in (16, 64):
            for name, config in configs.items():
                row(f"augment {name}", batch, size,
                    best_ms(augment_step(config, batch, size), args.repeats))
            row("face_loss ssim+mse fwd+bwd", batch, size,
                best_ms(loss_step(batch, size), args.repeats))


def row(case: str, batch: int, size: int, ms: float) -> None:
    print(f"{case:<28}{batch:>6}{size:>8}{ms:>10.1f}{batch / ms * 1000:>10.0f}")


def augment_step(config: AugmentConfig, batch: int, size: int) -> Callable[[], object]:
    """One augmentation of uint8 faces with 3 mask channels and landmarks."""
    gen = torch.Generator().manual_seed(0)
    faces = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    masks = torch.rand(batch, 3, size, size)
    landmarks = torch.rand(batch, 68, 2) * size * 0.6 + size * 0.2
    return lambda: augment_batch(faces, config, gen, out_size_input=size,
                                 out_size_target=size, masks=masks, landmarks=landmarks)


def loss_step(batch: int, size: int) -> Callable[[], object]:
    """Default face loss (SSIM + MSE, face/eye/mouth masks), forward and backward."""
    target = torch.rand(batch, 3, size, size)
    pred = torch.rand(batch, 3, size, size, requires_grad=True)
    face, eye, mouth = (torch.rand(batch, 1, size, size) for _ in range(3))
    return lambda: face_loss(pred, target, LossConfig(), face, eye, mouth).backward()


if __name__ == "__main__":
    main()

# Recorded results
# ----------------
# 2-core CPU dev box (AVX512), torch 2.13.0, --threads 1 --repeats 5, taken while two other
# benchmarks were running (load average ~4 on 2 cores), so treat them as upper bounds; runs
# with --threads 2 under that load varied by 2-8x from run to run and are not recorded.
# torch 2.13.0+cpu, 1 threads, cpu
# case                         batch size px  ms/batch   faces/s
# augment default                 16      64      28.2       567
# augment no colour               16      64      12.8      1245
# augment warp to lm              16      64      29.2       548
# face_loss ssim+mse fwd+bwd      16      64      54.3       294
# augment default                 64      64      78.0       821
# augment no colour               64      64      47.6      1343
# augment warp to lm              64      64      93.0       689
# face_loss ssim+mse fwd+bwd      64      64     210.3       304
# augment default                 16     128      79.9       200
# augment no colour               16     128      50.1       319
# augment warp to lm              16     128      85.5       187
# face_loss ssim+mse fwd+bwd      16     128     225.4        71
# augment default                 64     128     312.5       205
# augment no colour               64     128     178.3       359
# augment warp to lm              64     128     296.0       216
# face_loss ssim+mse fwd+bwd      64     128     986.0        65
