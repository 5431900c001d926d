"""Real extracted faces and a briefly trained model, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceforge.cli import main


@pytest.fixture(scope="session")
def faces(video_dir, tmp_path_factory) -> dict[str, Path]:
    """Every 4th frame of the two men of the shared footage, extracted for real; the
    alignments stores lie beside the folders as a.db and b.db."""
    root = tmp_path_factory.mktemp("faces")
    out = {}
    for side, clip in (("a", "lp_d18.mp4"), ("b", "lp_d19.mp4")):
        assert main(["extract", "-i", str(video_dir / clip), "-o", str(root / side), "-p",
                     str(root / f"{side}.db"), "-een", "4", "-L", "WARNING"]) == 0
        out[side] = root / side
    return out


@pytest.fixture(scope="session")
def tiny_model(faces, tmp_path_factory) -> Path:
    """A `quick` model trained for a few iterations: enough to exercise conversion."""
    model = tmp_path_factory.mktemp("model") / "quick"
    assert main(["train", "-A", str(faces["a"]), "-B", str(faces["b"]), "-m", str(model),
                 "-t", "quick", "-bs", "4", "-it", "3", "-s", "3", "--no-identity",
                 "-L", "WARNING"]) == 0
    return model
