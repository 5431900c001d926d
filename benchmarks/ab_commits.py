"""Training and conversion speed of two versions of faceforge, alternating, on one machine.

Runs the command line of an older commit (checked out into a temporary git worktree) and of
this checkout in turns, so a machine that drifts slows both alike, and prints each one's
median. This checkout runs twice per round: with the compute the older code always used on
this CPU (bf16 where the CPU has it, faceforge's kernels on) — the same maths, so any gap is
the code around it — and with `--precision auto --cpu-kernels auto`.

    .venv/bin/python benchmarks/ab_commits.py --base a706ff9
    .venv/bin/python benchmarks/ab_commits.py --base a706ff9 --rounds 5 --iterations 40

Training: `train -t TRAINER -bs 16 -it N` from a new model each time (EGs/s from the command's
own summary, which counts from the first iteration). Conversion: `convert` of
WolfgangLanger_Pexels.mp4 with the default ffmpeg writer (frames/s from its summary).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceforge.machine import cpu_description, cpu_has_bf16

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "video"


def faceforge(tree: Path, args: list[str], env: dict[str, str]) -> str:
    """Run one faceforge command from source tree `tree`; its stdout."""
    proc = subprocess.run([sys.executable, "-m", "faceforge.cli", *args, "-L", "WARNING"],
                          capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(tree / "src")})
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: faceforge {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in {text!r}")
    return float(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the older commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trainer", default="original")
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    cpu = cpu_description()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    print(f"{cpu}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}; "
          f"base {args.base} vs this checkout {head}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = root / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base),
                        args.base], check=True, capture_output=True)
        try:
            run_rounds(root, base, args)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(base)], capture_output=True)


def run_rounds(root: Path, base: Path, args: argparse.Namespace) -> None:
    env = {**os.environ, "FACEFORGE_CACHE_DIR": str(root / "cache")}
    clips = (("a", "lp_d18.mp4"), ("b", "lp_d19.mp4"), ("w", "WolfgangLanger_Pexels.mp4"))
    for side, clip in clips:
        faceforge(REPO, ["extract", "-i", str(DATA / clip), "-o", str(root / f"faces_{side}"),
                         "-p", str(root / f"{side}.db"), "-een", "1" if side == "w" else "2"],
                  env)
    model = root / "model"
    faceforge(REPO, ["train", "-A", str(root / "faces_a"), "-B", str(root / "faces_b"), "-m",
                     str(model), "-t", args.trainer, "-bs", "4", "-it", "1", "--no-identity",
                     "--precision", "fp32"], env)
    variants = {
        "base": (base, []),
        "new, same compute": (REPO, ["--precision", "bf16", "--cpu-kernels", "faceforge"]),
        "new, auto": (REPO, ["--precision", "auto", "--cpu-kernels", "auto"]),
    }
    if not cpu_has_bf16():
        variants["new, same compute"] = (REPO, ["--precision", "fp32", "--cpu-kernels",
                                                "faceforge"])
    train_rates: dict[str, list[float]] = {name: [] for name in variants}
    convert_rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(args.rounds):
        for name, (tree, extra) in variants.items():
            out = root / f"run_{round_number}_{name.replace(' ', '_').replace(',', '')}"
            summary = faceforge(tree, ["train", "-A", str(root / "faces_a"), "-B",
                                       str(root / "faces_b"), "-m", str(out / "model"), "-t",
                                       args.trainer, "-bs", "16", "-it", str(args.iterations),
                                       "-s", str(args.iterations), "--no-identity", *extra],
                                env)
            train_rates[name].append(number(r"at ([\d.]+) EGs/s", summary))
            summary = faceforge(tree, ["convert", "-i", str(DATA / "WolfgangLanger_Pexels.mp4"),
                                       "-o", str(out / "converted"), "-p", str(root / "w.db"),
                                       "-m", str(model), *extra], env)
            convert_rates[name].append(number(r"([\d.]+) frames/s", summary))
            shutil.rmtree(out)
            print(f"round {round_number + 1} {name}: train {train_rates[name][-1]:.1f} EGs/s, "
                  f"convert {convert_rates[name][-1]:.1f} frames/s", flush=True)
    print(f"\n| version | train {args.trainer} bs 16, EGs/s (median) | runs | "
          "convert frames/s (median) | runs |")
    print("|---|---:|---|---:|---|")
    for name in variants:
        print(f"| {name} | {statistics.median(train_rates[name]):.1f} | "
              f"{' '.join(f'{v:.1f}' for v in train_rates[name])} | "
              f"{statistics.median(convert_rates[name]):.1f} | "
              f"{' '.join(f'{v:.1f}' for v in convert_rates[name])} |")


if __name__ == "__main__":
    main()
