"""Fixtures for the extraction plugin tests: real photos, and one instance per plugin.

Plugins load their models once per test session: dlib's CNN and ResNet files take a second or
two each to read, and the contract tests reuse them many times.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceforge.plugins.align import LANDMARKERS, Landmarker
from faceforge.plugins.detect import DETECTORS, Detector


@cache
def detector(name: str) -> Detector:
    return DETECTORS.get(name)()


@cache
def landmarker(name: str) -> Landmarker:
    return LANDMARKERS.get(name)()


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="session")
def photos(data_dir: Path) -> Path:
    return data_dir / "photos"


@pytest.fixture(scope="session")
def grace_hopper(photos: Path) -> np.ndarray:
    return read_rgb(photos / "grace_hopper.jpg")


@pytest.fixture(scope="session")
def small_portrait(grace_hopper: np.ndarray) -> np.ndarray:
    """Grace Hopper at half size (256x300, face about 100 px): cheap enough for dlib's CNN."""
    return np.ascontiguousarray(grace_hopper[::2, ::2])
