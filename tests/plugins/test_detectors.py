"""Contract tests run over every registered detector, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.plugins.detect import DETECTORS, Detection

ALL_DETECTORS = DETECTORS.names()
#: dlib's CNN takes 1-5 s per photo on a 2-core CPU; it gets the one small portrait only.
FAST_DETECTORS = [name for name in ALL_DETECTORS if name != "cnn"]


def assert_valid(found: list[Detection], frame: np.ndarray) -> None:
    height, width = frame.shape[:2]
    for face in found:
        left, top, right, bottom = face.box
        assert 0 <= left < right <= width and 0 <= top < bottom <= height, face.box
        assert 0.0 <= face.score <= 1.0
        if face.keypoints is not None:
            assert face.keypoints.ndim == 2 and face.keypoints.shape[1] == 2
            assert np.isfinite(face.keypoints).all()


def test_the_expected_detectors_are_registered():
    assert {"hog", "cnn", "blazeface", "blazeface-full", "s3fd", "mtcnn", "cv2-dnn",
            "retinaface"} <= set(ALL_DETECTORS)


@pytest.mark.parametrize("name", ALL_DETECTORS)
def test_finds_the_one_face_in_a_portrait(name, small_portrait, detector):
    found = detector(name).detect([small_portrait])[0]
    assert len(found) == 1
    assert_valid(found, small_portrait)
    # Grace Hopper's face is about 100 px wide and centred near (135, 125) at this size.
    left, top, right, bottom = found[0].box
    assert 60 < right - left < 160
    assert left < 135 < right and top < 125 < bottom


@pytest.mark.parametrize("name", FAST_DETECTORS)
def test_finds_both_people_in_a_two_person_photo(name, photos, detector, read_rgb):
    frame = read_rgb(photos / "two_people.jpg")
    found = detector(name).detect([frame])[0]
    assert len(found) == 2
    assert_valid(found, frame)
    centres = sorted((f.box[0] + f.box[2]) / 2 for f in found)
    assert centres[0] < frame.shape[1] / 2 < centres[1]  # one on each side


@pytest.mark.parametrize("name", FAST_DETECTORS)
def test_finds_the_face_in_a_large_photo(name, photos, detector, read_rgb):
    frame = read_rgb(photos / "obama3.jpg")
    found = detector(name).detect([frame])[0]
    assert len(found) == 1
    assert_valid(found, frame)


@pytest.mark.parametrize("name", FAST_DETECTORS)
def test_face_cut_by_the_frame_edge_gives_a_box_inside_the_frame(name, photos, detector, read_rgb):
    frame = read_rgb(photos / "obama_partial_face.jpg")
    found = detector(name).detect([frame])[0]
    assert len(found) == 1
    assert_valid(found, frame)


@pytest.mark.parametrize("name", ALL_DETECTORS)
def test_blank_and_tiny_frames_give_no_faces(name, detector):
    blank = np.full((120, 160, 3), 128, dtype=np.uint8)
    tiny = np.zeros((16, 16, 3), dtype=np.uint8)
    assert detector(name).detect([blank, tiny]) == [[], []]


@pytest.mark.parametrize("name", ALL_DETECTORS)
def test_an_empty_batch_gives_an_empty_result(name, detector):
    assert detector(name).detect([]) == []


@pytest.mark.parametrize("name", ALL_DETECTORS)
def test_non_contiguous_frames_are_handled(name, small_portrait, detector):
    # A view that skips pixel columns: dlib alone would silently find nothing in it.
    wide = np.repeat(small_portrait, 2, axis=1)
    view = wide[:, ::2]
    assert not view.flags["C_CONTIGUOUS"]
    found = detector(name).detect([view])[0]
    assert len(found) == 1
    expected = detector(name).detect([small_portrait])[0][0]
    np.testing.assert_allclose(found[0].box, expected.box, atol=1.0)


@pytest.mark.parametrize("name", FAST_DETECTORS)
def test_a_batch_of_different_sizes_gives_one_result_per_frame(
    name, small_portrait, photos, detector, read_rgb
):
    frames = [small_portrait, np.zeros((50, 80, 3), np.uint8), read_rgb(photos / "two_people.jpg")]
    assert [len(found) for found in detector(name).detect(frames)] == [1, 0, 2]


@pytest.mark.parametrize("name", ALL_DETECTORS)
def test_every_detection_of_a_batch_carries_its_source_and_box_calibration(
    name, small_portrait, photos, detector, read_rgb
):
    calibration = DETECTORS.get(name).dlib_box_calibration
    assert calibration is not None, f"{name} declares no dlib_box_calibration"
    assert len(calibration) in (3, 4) and min(calibration[2:]) > 0
    two_people = np.ascontiguousarray(read_rgb(photos / "two_people.jpg")[::2, ::2])
    frames = [small_portrait, two_people]
    found = detector(name).detect(frames)
    assert len(found) == 2
    assert sum(len(faces) for faces in found) > 0
    for faces, frame in zip(found, frames, strict=True):
        assert_valid(faces, frame)
        for face in faces:
            assert face.source == name
            assert face.dlib_box_calibration == calibration


def test_blazeface_keypoints_put_the_right_eye_on_the_image_left(small_portrait, detector):
    for name in ("blazeface", "blazeface-full"):
        keypoints = detector(name).detect([small_portrait])[0][0].keypoints
        assert keypoints is not None and keypoints.shape == (6, 2)
        right_eye, left_eye, nose, mouth = keypoints[:4]
        assert right_eye[0] < nose[0] < left_eye[0]
        assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
