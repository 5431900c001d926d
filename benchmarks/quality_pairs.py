"""Issue 13, part 2: what a CPU user gets from 30 minutes of `quick`, measured by the report.
Results: docs/benchmarks/quality.md.

    .venv/bin/python benchmarks/quality_pairs.py --work /tmp/q13
    .venv/bin/python benchmarks/quality_pairs.py --work /tmp/q13 --iterations 5400 --side-by-side

For each shared pair (A→B: lp_d18→lp_d19, WolfgangLanger_Pexels→lp_d6, lp_d9→lp_d18) every frame
of both videos is extracted with the defaults, `quick` is trained at batch 16 for --iterations
(5,400: what 30 minutes gave on the 2-core Xeon of docs/benchmarks/training.md when idle; a
fixed count, so other work on the machine changes how long it takes, not the model), A's video
is converted once per --variant (a tag and convert options; default: `defaults`, and `detail`
with `--detail 100`) and each output is scored by
`faceforge report` against A's video with B's faces and the knn_examples gallery. Every step
runs the real command line in a subprocess and is skipped when its output exists, so an
interrupted run resumes.
--trainer trains another preset, --train-options adds `train` options (e.g. "--lr-decay 30"),
--pairs picks pairs by number.
--side-by-side trains the pairs at the same time with one thread each (on 2 cores that is about
1.5x the throughput of one after another; the models are the same kind either way).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from faceforge.machine import cpu_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAIRS = [("lp_d18", "lp_d19"), ("WolfgangLanger_Pexels", "lp_d6"), ("lp_d9", "lp_d18")]
FACEFORGE = [sys.executable, "-c", "import sys; from faceforge.cli import main; sys.exit(main())"]


def run(args: list[str], log: Path, env: dict | None = None) -> None:
    with log.open("w") as out:
        done = subprocess.run(FACEFORGE + args, stdout=out, stderr=subprocess.STDOUT,
                              env=env, check=False)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): faceforge {' '.join(args)}; see {log}")


def extract(work: Path, name: str) -> None:
    if (work / f"{name}.db").exists() and (work / f"faces_{name}").is_dir():
        return
    run(["extract", "-i", str(SHARED / "video" / f"{name}.mp4"), "-o", str(work / f"faces_{name}"),
         "-p", str(work / f"{name}.db")], work / f"extract_{name}.log")


def train_args(work: Path, a: str, b: str, iterations: int, trainer: str,
               extra: list[str]) -> list[str]:
    return ["train", "-A", str(work / f"faces_{a}"), "-ala", str(work / f"{a}.db"),
            "-B", str(work / f"faces_{b}"), "-alb", str(work / f"{b}.db"),
            "-m", str(work / f"model_{a}_{b}"), "-t", trainer, "-bs", "16",
            "-it", str(iterations), "-s", "250", "-w", *extra]


def trained(work: Path, a: str, b: str, iterations: int) -> bool:
    state = work / f"model_{a}_{b}" / "state.json"
    return state.exists() and json.loads(state.read_text()).get("iterations", 0) >= iterations


def train_all(work: Path, pairs: list[tuple[str, str]], iterations: int, side_by_side: bool,
              trainer: str, extra: list[str]) -> dict[str, float]:
    todo = [(a, b) for a, b in pairs if not trained(work, a, b, iterations)]
    seconds: dict[str, float] = {}
    if side_by_side:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        started = time.perf_counter()
        procs = [(a, b, subprocess.Popen(FACEFORGE + train_args(work, a, b, iterations, trainer,
                                                                extra),
                                         stdout=(work / f"train_{a}_{b}.log").open("w"),
                                         stderr=subprocess.STDOUT, env=env))
                 for a, b in todo]
        for a, b, proc in procs:
            if proc.wait():
                raise SystemExit(f"training {a}->{b} failed; see {work}/train_{a}_{b}.log")
            seconds[f"{a}->{b}"] = time.perf_counter() - started
        return seconds
    for a, b in todo:
        started = time.perf_counter()
        run(train_args(work, a, b, iterations, trainer, extra), work / f"train_{a}_{b}.log")
        seconds[f"{a}->{b}"] = time.perf_counter() - started
    return seconds


def score(work: Path, a: str, b: str, tag: str, options: list[str]) -> dict:
    out = work / f"out_{a}_{b}_{tag}"
    report = out / "report" / "report.json"
    if not report.exists():
        run(["convert", "-i", str(SHARED / "video" / f"{a}.mp4"), "-p", str(work / f"{a}.db"),
             "-m", str(work / f"model_{a}_{b}"), "-o", str(out / "conv"), *options],
            work / f"convert_{a}_{b}_{tag}.log")
        run(["report", str(out / "conv" / f"{a}_converted.mp4"),
             "-s", str(SHARED / "video" / f"{a}.mp4"), "-m", str(work / f"model_{a}_{b}"),
             "-B", str(work / f"faces_{b}"), "-o", str(out / "report"),
             "-g", str(SHARED / "photos" / "knn_examples" / "train")],
            work / f"report_{a}_{b}_{tag}.log")
    return json.loads(report.read_text())


def row(pair: str, tag: str, r: dict) -> str:
    """One table row; a measure the report could not take (no face found in the output of an
    untrained model, say) shows as a dash."""
    def f(value: float | None, spec: str = ".2f") -> str:
        return "-" if value is None else format(value, spec)

    i, e = r["identity"], r["expression"]
    nearer = i["nearer_b_share"]
    return (f"| {pair} | {tag} | {f(r['sharpness']['ratio_median'])} | "
            f"{f(e['mouth_opening_correlation'])} | "
            f"{'-' if nearer is None else f'{nearer * 100:.0f}%'} | "
            f"{f(i['distance_to_b'], '.3f')} / {f(i['distance_to_a'], '.3f')} | "
            f"{f(e['eye_opening_correlation'])} | {f(r['seam']['ratio_median'])} | "
            f"{f(r['stability']['jitter_px'])} | {f(r['frames']['face_size_px'], '.0f')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (resumable)")
    parser.add_argument("--iterations", type=int, default=5400)
    parser.add_argument("--side-by-side", action="store_true")
    parser.add_argument("--trainer", default="quick", help="the preset trained (default quick)")
    parser.add_argument("--train-options", default="", metavar="OPTIONS",
                        help='more `train` options, e.g. "--lr-decay 30"')
    parser.add_argument("--pairs", nargs="+", type=int, choices=(1, 2, 3), default=(1, 2, 3),
                        help="which pairs, by number (default all three)")
    parser.add_argument("--variant", action="append", metavar="TAG=OPTIONS",
                        help='a convert variant, e.g. "sharpened=--sharpen unsharp_mask" '
                        '(default: "defaults=" and "detail=--detail 100")')
    args = parser.parse_args()
    variants = [v.split("=", 1) for v in args.variant or ["defaults=", "detail=--detail 100"]]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"# {cpu_model()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{args.trainer} {args.train_options}, {args.iterations} iterations")
    pairs = [PAIRS[n - 1] for n in args.pairs]
    for name in sorted({n for pair in pairs for n in pair}):
        extract(args.work, name)
    for pair, seconds in train_all(args.work, pairs, args.iterations, args.side_by_side,
                                     args.trainer, args.train_options.split()).items():
        print(f"# trained {pair}: {args.iterations} iterations in {seconds / 60:.1f} min")
    print("| pair | convert | sharpness | mouth corr | nearer B | dist to B / A | eye corr "
          "| seam | jitter px | face px |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for a, b in pairs:
        for tag, options in variants:
            print(row(f"{a}→{b}", tag, score(args.work, a, b, tag, options.split())),
                  flush=True)


if __name__ == "__main__":
    main()
