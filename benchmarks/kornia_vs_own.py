"""Our L*a*b* conversions and CLAHE (faceforge.training.augment) against kornia's, on the CPU:
speed and numerical agreement, at the batch shapes training uses.

    PYTHONPATH=src .venv/bin/python benchmarks/kornia_vs_own.py [--rounds 15] [--threads 2]

Needs kornia (``pip install kornia``), which faceforge itself does not depend on: the
comparison kept our three functions (results in docs/benchmarks/training.md).

Speed: for each case the two implementations are called alternately (ours, kornia, kornia, ours,
... one call each per round after a warm-up), so load from other tenants hits both alike; the
table gives the median ms per call over the rounds, min-max, and the median of the per-round
ratio kornia / ours. CLAHE is timed as one call per grid size that training draws (2-6 tiles a
side, clip limit 2), summed, on the L* channel scaled to [0, 1].

Each case runs in fp32 and inside ``torch.autocast("cpu", dtype=torch.bfloat16)``. (Training
calls ``augment_batch`` outside autocast, so only the fp32 rows describe training; the bf16 rows
show what each implementation does if called under autocast.)

Agreement: max and mean |ours - kornia| on the same input; for the bf16 rows, each against our
fp32 result. Lab values in L*a*b* units, RGB and CLAHE in [0, 1] units. Also lab_to_rgb over
the whole L*a*b* box (mostly out of gamut) against cv2, the RGB -> Lab -> RGB round trip of
each pairing, and CLAHE grid by grid against cv2.createCLAHE on the 8-bit levels.

Inputs: random crops of the photos in ../shared/data/photos (natural image statistics), resized
to the face size; uniform noise if that folder is missing.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import cv2
import kornia
import numpy as np
import torch

from faceforge.machine import cpu_description
from faceforge.training.augment import clahe, lab_to_rgb, rgb_to_lab

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
SHAPES = [(16, 64), (64, 64), (16, 128), (64, 128)]  # (faces, pixels a side)
GRIDS = (2, 3, 4, 5, 6)  # AugmentConfig's CLAHE grids at 64 and 128 px: 2 + k, k in 0..4
CLIP_LIMIT = 2.0
FUNCTIONS = ("rgb_to_lab", "lab_to_rgb", "clahe")


def face_batch(count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``count x 3 x size x size`` float32 RGB in [0, 1]."""
    photos = [cv2.imread(str(path)) for path in sorted(PHOTOS.glob("*.*"))]
    photos = [p for p in photos if p is not None and min(p.shape[:2]) >= 2 * size]
    if not photos:
        return torch.from_numpy(rng.random((count, 3, size, size), dtype=np.float32))
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(size, min(photo.shape[:2]) + 1))
        top = int(rng.integers(photo.shape[0] - side + 1))
        left = int(rng.integers(photo.shape[1] - side + 1))
        crop = cv2.resize(photo[top:top + side, left:left + side], (size, size),
                          interpolation=cv2.INTER_AREA)
        crops.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def unit_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """L* / 100, ``N x 1 x H x W`` in [0, 1], as the augmentation hands it to CLAHE."""
    return (rgb_to_lab(rgb)[:, :1] / 100.0).clamp(0.0, 1.0)


def own_clahe_all(lightness: torch.Tensor) -> list[torch.Tensor]:
    return [clahe(lightness, grid, CLIP_LIMIT) for grid in GRIDS]


def kornia_clahe_all(lightness: torch.Tensor) -> list[torch.Tensor]:
    return [kornia.enhance.equalize_clahe(lightness, CLIP_LIMIT, (grid, grid)) for grid in GRIDS]


def cv2_clahe(lightness: torch.Tensor, grid: int) -> torch.Tensor:
    levels = (lightness[:, 0] * 255).round().to(torch.uint8).numpy()
    tool = cv2.createCLAHE(CLIP_LIMIT, (grid, grid))
    return torch.from_numpy(np.stack([tool.apply(image) for image in levels]))[:, None] / 255.0


def alternate(own: Callable[[], object], theirs: Callable[[], object],
              rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per call of each, one call each per round, the order swapped every round."""
    own(), theirs()
    own_ms, their_ms = [], []
    for index in range(rounds):
        pair = [(own, own_ms), (theirs, their_ms)]
        for step, times in pair if index % 2 == 0 else pair[::-1]:
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1e3)
    return own_ms, their_ms


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def largest(diffs: list[torch.Tensor]) -> tuple[float, float]:
    """Max and mean absolute value over a list of same-shaped differences."""
    stacked = torch.stack([d.float().abs() for d in diffs])
    return float(stacked.max()), float(stacked.mean())


MODES = {"fp32": nullcontext, "bf16 autocast": lambda: torch.autocast("cpu", torch.bfloat16)}


def compare_shape(rgb: torch.Tensor, rounds: int, functions: list[str], speed_rows: list,
                  agree_rows: list) -> None:
    """Time and compare `functions` on one batch, in every mode; append table rows."""
    count, _, size, _ = rgb.shape
    lab = rgb_to_lab(rgb)
    lightness = unit_lightness(rgb)
    cases = {
        "rgb_to_lab": (partial(rgb_to_lab, rgb), partial(kornia.color.rgb_to_lab, rgb)),
        "lab_to_rgb": (partial(lab_to_rgb, lab), partial(kornia.color.lab_to_rgb, lab)),
        "clahe": (partial(own_clahe_all, lightness), partial(kornia_clahe_all, lightness)),
    }
    cases = {name: pair for name, pair in cases.items() if name in functions}
    reference = {name: as_list(own()) for name, (own, _) in cases.items()}
    for mode, context in MODES.items():
        for name, (own, theirs) in cases.items():
            with context():
                own_ms, their_ms = alternate(own, theirs, rounds)
                own_out, their_out = as_list(own()), as_list(theirs())
            ratio = statistics.median(t / o for t, o in zip(their_ms, own_ms, strict=True))
            label = "clahe, grids 2-6" if name == "clahe" else name
            speed_rows.append((label, mode, count, size, spread(own_ms), spread(their_ms), ratio))
            if mode == "fp32":
                pairs = {"ours vs kornia": differences(own_out, their_out)}
            else:
                pairs = {f"ours {mode} vs ours fp32": differences(own_out, reference[name]),
                         f"kornia {mode} vs ours fp32": differences(their_out, reference[name])}
            for compared, diffs in pairs.items():
                agree_rows.append((name, count, size, compared, *largest(diffs)))


def lab_checks(rgb: torch.Tensor,
               rng: np.random.Generator) -> list[tuple[str, str, float, float]]:
    """Agreement beyond the shared inputs: Lab values over the whole L*a*b* box (most of them
    outside the sRGB gamut) against cv2, and the round trip RGB -> Lab -> RGB of each pairing."""
    box = rng.random((rgb.shape[0], rgb.shape[2], rgb.shape[3], 3), dtype=np.float32)
    box = box * np.float32([100, 255, 255]) - np.float32([0, 128, 128])
    expected = torch.from_numpy(np.stack([cv2.cvtColor(image, cv2.COLOR_Lab2RGB)
                                          for image in box])).permute(0, 3, 1, 2)
    lab = torch.from_numpy(box).permute(0, 3, 1, 2).contiguous()
    name = "lab_to_rgb, whole Lab box"
    rows = [(name, "ours vs cv2", *largest([lab_to_rgb(lab) - expected])),
            (name, "kornia vs cv2", *largest([kornia.color.lab_to_rgb(lab) - expected]))]
    pairings = {
        "ours -> ours": lab_to_rgb(rgb_to_lab(rgb)),
        "kornia -> kornia": kornia.color.lab_to_rgb(kornia.color.rgb_to_lab(rgb)),
        "kornia rgb_to_lab -> our lab_to_rgb": lab_to_rgb(kornia.color.rgb_to_lab(rgb)),
    }
    rows += [("RGB -> Lab -> RGB", pairing, *largest([back - rgb]))
             for pairing, back in pairings.items()]
    return rows


def as_list(result: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    return result if isinstance(result, list) else [result]


def differences(first: list[torch.Tensor], second: list[torch.Tensor]) -> list[torch.Tensor]:
    return [a.float() - b.float() for a, b in zip(first, second, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=FUNCTIONS,
                        help="which comparisons to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; CPU: "
          f"{cpu_description()}; torch {torch.__version__}, kornia {kornia.__version__}, "
          f"{args.threads} threads, {args.rounds} rounds")

    speed_rows, agree_rows, grid_rows, extra_rows = [], [], [], []
    for count, size in SHAPES:
        rgb = face_batch(count, size, rng)
        if (count, size) == SHAPES[0] and "lab_to_rgb" in args.functions:
            extra_rows = lab_checks(rgb, rng)
        compare_shape(rgb, args.rounds, args.functions, speed_rows, agree_rows)
        # CLAHE grid by grid, and against cv2, once per face size
        if count == SHAPES[0][0] and "clahe" in args.functions:
            lightness = unit_lightness(rgb)
            ours, theirs = own_clahe_all(lightness), kornia_clahe_all(lightness)
            for grid, own_out, their_out in zip(GRIDS, ours, theirs, strict=True):
                cv2_out = cv2_clahe(lightness, grid)
                grid_rows.append((grid, count, size, *largest([own_out - their_out]),
                                  largest([own_out - cv2_out])[1],
                                  largest([their_out - cv2_out])[1]))

    print("\nSpeed, ms per call: median (min-max) over rounds")
    print("| function | mode | faces | px | ours ms | kornia ms | kornia / ours |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, mode, count, size, own_cell, their_cell, ratio in speed_rows:
        print(f"| {name} | {mode} | {count} | {size} | {own_cell} | {their_cell} | "
              f"{ratio:.2f} |")
    print("\nAgreement (Lab in L*a*b* units; RGB and CLAHE in [0, 1] units)")
    print("| function | faces | px | compared | max abs | mean abs |")
    print("|---|---:|---:|---|---:|---:|")
    count, size = SHAPES[0]
    for name, count, size, compared, big, mean in agree_rows + [
            (name, count, size, compared, big, mean) for name, compared, big, mean in extra_rows]:
        print(f"| {name} | {count} | {size} | {compared} | {big:.3g} | {mean:.3g} |")
    if not grid_rows:
        return
    print("\nCLAHE grid by grid (fp32, clip limit 2); cv2 = cv2.createCLAHE on the 8-bit levels")
    print("| grid | faces | px | max abs ours - kornia | mean abs ours - kornia "
          "| mean abs ours - cv2 | mean abs kornia - cv2 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for grid, count, size, big, mean, own_cv2, their_cv2 in grid_rows:
        print(f"| {grid} | {count} | {size} | {big:.4f} | {mean:.4f} | {own_cv2:.4f} | "
              f"{their_cv2:.4f} |")


if __name__ == "__main__":
    main()
