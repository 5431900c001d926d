"""Shared fixtures: where the real test footage lives (../shared/data beside the checkout), and
real extracted faces and a briefly trained model, made once per test session (the pipeline and
tools tests both use them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceforge.cli import main

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def machine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Measured compute choices are cached per test session, never in the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("faceforge-cache")
    os.environ["FACEFORGE_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def offline() -> None:
    """Tests never touch the internet: weights downloads are refused unless a test serves
    the files itself (and lifts this for its own duration)."""
    os.environ["FACEFORGE_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real test data not found at {DATA}: clone next to the shared/ folder")
    return DATA


@pytest.fixture(scope="session")
def video_dir(data_dir: Path) -> Path:
    return data_dir / "video"


# Real extracted faces and a briefly trained model, made once per test session.


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
