"""kill -9 at random times and at the moments that matter, then a rerun: the rerun must give the
complete result, with no file whose name holds `tmp` or `partial` left anywhere.

CI runs a rotating subset: FACEFORGE_FAULT_SEED picks it (default: today's date), a few kills
per stage, so that over the days every moment is hit. `benchmarks/kill_suite.py` runs them all
(20 or more per stage) and prints a table; docs/reliability.md has its results.
"""

from __future__ import annotations

import datetime
import os
import random

import pytest

from .faults import STAGES, Shared, kill_and_rerun, plan

SEED = int(os.environ.get("FACEFORGE_FAULT_SEED") or datetime.date.today().strftime("%Y%m%d"))
PER_STAGE = int(os.environ.get("FACEFORGE_FAULTS_PER_STAGE", "2"))


def _subset() -> list[tuple[str, str, str]]:
    rng = random.Random(SEED)
    kills = []
    for name, stage in STAGES.items():
        # Where in the full plan today's subset starts, so that the moments rotate.
        full = plan(stage, 20, rng)
        start = rng.randrange(len(full))
        for moment, at in (full[start:] + full[:start])[:PER_STAGE]:
            kills.append((name, moment, at))
    return kills


@pytest.fixture(scope="module")
def shared(video_dir, faces, small_model) -> Shared:
    return Shared(video_dir / "lp_d18.mp4", faces["a"].parent / "a.db", faces["a"],
                  faces["b"], small_model)


@pytest.mark.faults
@pytest.mark.parametrize(("stage", "moment", "at"), _subset(),
                         ids=[f"{s}-{m}-{a}" for s, m, a in _subset()])
def test_a_kill_then_a_rerun_gives_the_clean_result(stage, moment, at, shared, tmp_path):
    outcome = kill_and_rerun(STAGES[stage], moment, at, shared, tmp_path / "work0")
    assert outcome.ok, (f"seed {SEED}: {outcome}")
