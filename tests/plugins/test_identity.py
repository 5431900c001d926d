"""dlib face descriptors: same person close, different people far, missing faces reported."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from faceforge.errors import InputError
from faceforge.plugins.identity import (
    SAME_PERSON_DISTANCE,
    FaceDescriber,
    distance_to_refs,
    reference_descriptors,
)


@cache
def describer() -> FaceDescriber:
    return FaceDescriber()


@pytest.fixture
def refs(detector, landmarker) -> Callable[..., np.ndarray]:
    """refs(*photo_paths): descriptors of the largest face in each photo."""

    def describe_photos(*paths: Path) -> np.ndarray:
        return reference_descriptors(
            list(paths), detector("blazeface-full"), landmarker("dlib"), describer()
        )

    return describe_photos


def test_same_person_is_close_and_different_people_are_far(photos, refs):
    knn = photos / "knn_examples"
    obama = refs(*sorted((knn / "train" / "obama").iterdir()))
    biden = refs(*sorted((knn / "train" / "biden").iterdir()))
    assert obama.shape == (2, 128) and obama.dtype == np.float32
    test_obama = refs(knn / "test" / "obama1.jpg")
    assert distance_to_refs(test_obama, obama)[0] < SAME_PERSON_DISTANCE
    assert distance_to_refs(test_obama, biden)[0] > SAME_PERSON_DISTANCE
    kit = refs(knn / "test" / "johnsnow_test1.jpg")
    assert distance_to_refs(kit, np.vstack([obama, biden]))[0] > SAME_PERSON_DISTANCE


def test_reference_photo_without_a_face_is_an_input_error(tmp_path, refs):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(blank)
    with pytest.raises(InputError, match="no face found"):
        refs(blank)
    with pytest.raises(InputError, match="does not exist"):
        refs(tmp_path / "missing.jpg")


def test_describing_no_faces_gives_an_empty_array(grace_hopper):
    assert describer().describe(grace_hopper, []).shape == (0, 128)


def test_distance_to_refs_takes_the_nearest_reference():
    refs_ = np.zeros((2, 128), np.float32)
    refs_[1, 0] = 1.0
    desc = np.zeros((3, 128), np.float32)
    desc[:, 0] = [0.0, 0.9, 3.0]
    np.testing.assert_allclose(distance_to_refs(desc, refs_), [0.0, 0.1, 2.0], atol=1e-6)
