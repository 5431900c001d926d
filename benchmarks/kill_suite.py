"""kill -9 every stage at random times and at the moments that matter, rerun, check, tabulate.

    python benchmarks/kill_suite.py [--per-stage 20] [--seed 1] [--stages extract train ...]

For each stage (extract, train, convert, tools) about half the kills land at the moments that
matter (a face image half-written, a batch's images on disk before its commit, weights or
state.json half-written, a backup half-copied, the encoding and the audio mux, an export or
a store edit half-done) and half at random times. Each kill is followed by a rerun of the
same command, which must finish with the complete result and leave no file whose name holds
`tmp` or `partial`. Prints one line per kill and a table per stage and moment; exits 1 if
any kill went wrong. The tests run a rotating subset of the same plan
(tests/reliability/test_kills.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from faceforge.cli import main  # noqa: E402
from faceforge.machine import cpu_description  # noqa: E402
from tests.reliability.conftest import make_small_model  # noqa: E402
from tests.reliability.faults import STAGES, Shared, kill_and_rerun, plan  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def _inputs(root: Path) -> Shared:
    video = DATA / "video"
    for side, clip in (("a", "lp_d18.mp4"), ("b", "lp_d19.mp4")):
        code = main(["extract", "-i", str(video / clip), "-o", str(root / side), "-p",
                     str(root / f"{side}.db"), "-N", "4", "-L", "WARNING"])
        assert code == 0, f"could not extract {clip}"
    return Shared(video / "lp_d18.mp4", root / "a.db", root / "a", root / "b",
                  make_small_model(root / "small-model"))


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-stage", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stages", nargs="*", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="faceforge-kills-"))
    os.environ.setdefault("FACEFORGE_CACHE_DIR", str(root / "cache"))
    os.environ["FACEFORGE_OFFLINE"] = "1"
    started = time.time()
    print(f"# kill suite, seed {args.seed}, {args.per_stage} kills per stage; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_description()}")
    shared = _inputs(root / "inputs")
    rng = random.Random(args.seed)
    table: dict[tuple[str, str], list] = defaultdict(list)
    failures = 0
    number = 0
    for name in args.stages:
        for moment, at in plan(STAGES[name], args.per_stage, rng):
            outcome = kill_and_rerun(STAGES[name], moment, at, shared, root / f"work{number}")
            number += 1
            table[(name, moment)].append(outcome)
            failures += not outcome.ok
            print(f"{name:8} {moment:14} at {at:>6}  killed={outcome.killed!s:5} "
                  f"rerun={outcome.rerun_exit!s:4} {outcome.seconds:5.1f} s  "
                  f"{'ok' if outcome.ok else 'FAILED: ' + str(outcome.problem)}", flush=True)
            if not args.keep:
                shutil.rmtree(root / f"work{number - 1}", ignore_errors=True)
    print("\n| stage | moment | kills | killed before the end | clean after rerun | leftovers |")
    print("|---|---|---:|---:|---:|---:|")
    for (name, moment), outcomes in table.items():
        print(f"| {name} | {moment} | {len(outcomes)} | {sum(o.killed for o in outcomes)} | "
              f"{sum(o.ok for o in outcomes)} | {sum(len(o.leftovers) for o in outcomes)} |")
    total = sum(len(o) for o in table.values())
    print(f"\n{total} kills, {failures} failed, in {time.time() - started:.0f} s")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main_())
