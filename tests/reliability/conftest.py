"""Fixtures for the reliability tests: a small model (built, not trained: it only has to load
and run), the real extracted faces and store of the shared footage, and the checks every bad
input must pass (one line, no traceback, nothing changed)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

SMALL_MODEL_CONFIG = {
    "input_size": 64, "encoder_filters": [8, 16, 16, 16], "encoder_dim": 16,
    "dense_filters": 16, "encoder_upscale_filters": 16, "decoder_filters": [16, 8, 8],
    "learn_mask": False, "learning_rate": 2e-4,
}


def make_small_model(folder: Path, iterations: int = 1) -> Path:
    """A `quick` model with tiny widths saved as `train` saves one: loads and converts in
    milliseconds, so the bad-input cases stay fast."""
    import torch

    from faceforge.formats.model_state import ModelState
    from faceforge.plugins.model import build_model
    from faceforge.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("quick", dict(SMALL_MODEL_CONFIG))
    state = ModelState(trainer="quick", model_config=model.config.to_dict(),
                       train_config={"centering": "face", "coverage": 87.5},
                       iterations=iterations, tool_version="test")
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    save_checkpoint(folder, state, model.contiguous_state_dict(), optimizer, {})
    return folder


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    return make_small_model(tmp_path_factory.mktemp("small-model") / "model")


@pytest.fixture(scope="session")
def dead_pid() -> int:
    """The id of a process that has ended (for names of temporaries a kill left)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def tree_hashes(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under `roots` (files or folders), by path."""
    hashes = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def leftovers(*folders: Path) -> list[str]:
    """Files whose names say they are temporary or partial."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [str(p) for p in folder.rglob("*")
                      if "tmp" in p.name or "partial" in p.name]
    return sorted(found)


def one_error_line(err: str) -> str:
    """The single error line of a refused command; fails on a traceback or on more lines."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]
