"""Shared fixtures: where the real test footage lives (../shared/data beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
