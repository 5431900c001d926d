"""Fixtures for the extraction plugin tests: real photos, and one instance per plugin.

Plugins load their models once per test session: dlib's CNN and ResNet files take a second or
two each to read, and the contract tests reuse them many times.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceforge.plugins.align import LANDMARKERS, Landmarker
from faceforge.plugins.detect import DETECTORS, Detector
from faceforge.plugins.weights import WeightsMissing


def _without_weights(build: Callable[[], object], name: str) -> object:
    """The plugin, or a skipped test when its downloadable weights are not on this machine
    (put them in $FACEFORGE_WEIGHTS_DIR to run its contract tests)."""
    try:
        return build()
    except WeightsMissing as exc:
        pytest.skip(f"{name}: weights not available offline ({exc.message})")


@cache
def _detector(name: str) -> Detector:
    return _without_weights(DETECTORS.get(name), name)  # type: ignore[return-value]


@cache
def _landmarker(name: str) -> Landmarker:
    return _without_weights(LANDMARKERS.get(name), name)  # type: ignore[return-value]


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="session")
def detector() -> Callable[[str], Detector]:
    """detector(name): the registered detector with default options, built once."""
    return _detector


@pytest.fixture(scope="session")
def landmarker() -> Callable[[str], Landmarker]:
    """landmarker(name): the registered landmarker with default options, built once."""
    return _landmarker


@pytest.fixture(scope="session")
def read_rgb() -> Callable[[Path], np.ndarray]:
    """read_rgb(path): an image file as an RGB uint8 array."""
    return _read_rgb


@pytest.fixture(scope="session")
def photos(data_dir: Path) -> Path:
    return data_dir / "photos"


@pytest.fixture(scope="session")
def grace_hopper(photos: Path) -> np.ndarray:
    return _read_rgb(photos / "grace_hopper.jpg")


@pytest.fixture(scope="session")
def small_portrait(grace_hopper: np.ndarray) -> np.ndarray:
    """Grace Hopper at half size (256x300, face about 100 px): cheap enough for dlib's CNN."""
    return np.ascontiguousarray(grace_hopper[::2, ::2])
