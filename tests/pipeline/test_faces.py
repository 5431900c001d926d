"""The face finder on painted frames, with an in-memory fake detector and landmarker.

Faces are painted rectangles: red for a face, yellow for something a detector mistakes for a
face but whose landmarks come out as garbage. The fake detector finds the rectangles that
stand upright (taller than wide), so one painted lying on its side is found only after the
frame is rotated; it lists them right to left and records the size of every batch it gets.
The fake landmarker puts the mean face shape into each box.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceforge.core import geometry
from faceforge.core.landmarks import ALIGN_POINTS
from faceforge.pipeline.faces import FaceFinder, FaceFinderConfig
from faceforge.plugins.align import Landmarker
from faceforge.plugins.detect import Detection, Detector
from faceforge.plugins.detect.base import HOG_BOX

RED, YELLOW = (255, 0, 0), (255, 255, 0)
#: the 17 jaw points in unit face space: the mean face only has points 17-67
_JAW = np.stack([np.linspace(0.0, 1.0, 17), 0.6 + 0.4 * np.sin(np.linspace(0.0, np.pi, 17))], 1)
UNIT_FACE_68 = np.vstack([_JAW, geometry.mean_face()])


class PaintedFaceDetector(Detector):
    name = "painted"
    dlib_box_calibration = HOG_BOX

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def process(self, batch: object) -> object:
        frames: list[np.ndarray] = batch  # type: ignore[assignment]
        self.batch_sizes.append(len(frames))
        return frames

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        results = []
        for frame in frames:
            painted = (frame[..., 0] > 127).astype(np.uint8)
            _, _, stats, _ = cv2.connectedComponentsWithStats(painted)
            found = [
                Detection(box=(float(x), float(y), float(x + w), float(y + h)), score=1.0)
                for x, y, w, h, _ in stats[1:]  # label 0 is the background
                if h >= w
            ]
            results.append(sorted(found, key=lambda d: -d.box[0]))
        return results


class BoxFaceLandmarker(Landmarker):
    name = "box-face"

    def __init__(self) -> None:
        self.calls = 0

    def landmarks(self, frame: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        self.calls += 1
        rng = np.random.default_rng(0)
        points = []
        for detection in detections:
            left, top, right, bottom = detection.box
            size = np.array([right - left, bottom - top])
            centre_x, centre_y = int((left + right) / 2), int((top + bottom) / 2)
            if frame[centre_y, centre_x, 1] > 127:  # yellow: not a face
                unit = rng.uniform(0.0, 1.0, (68, 2))
            else:
                unit = UNIT_FACE_68
            points.append((unit * size + [left, top]).astype(np.float32))
        return points


def paint(
    frame: np.ndarray, x: int, y: int, width: int, height: int, colour=RED
) -> np.ndarray:
    frame[y : y + height, x : x + width] = colour
    return frame


def blank(height: int = 120, width: int = 160) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


def finder(**options) -> tuple[FaceFinder, PaintedFaceDetector, BoxFaceLandmarker]:
    detector, landmarker = PaintedFaceDetector(), BoxFaceLandmarker()
    config = FaceFinderConfig(detector="painted", aligner="box-face", **options)
    return FaceFinder(config, detector=detector, landmarker=landmarker), detector, landmarker


def boxes(faces) -> list[tuple[float, float, float, float]]:
    return [face.detection.box for face in faces]


def test_the_detector_gets_the_whole_batch_in_one_call():
    find, detector, _ = finder()
    frames = [paint(blank(), 10, 10, 30, 36), blank(90, 200),
              paint(paint(blank(), 10, 50, 30, 36), 100, 20, 30, 36)]
    found = find.find_batch(frames)
    assert detector.batch_sizes == [3]
    assert [len(faces) for faces in found] == [1, 0, 2]
    assert boxes(found[0]) == [(10.0, 10.0, 40.0, 46.0)]


def test_one_frame_is_found_as_a_batch_of_one():
    find, detector, _ = finder()
    frame = paint(blank(), 10, 10, 30, 36)
    assert boxes(find.find(frame)) == boxes(find.find_batch([frame])[0])
    assert detector.batch_sizes == [1, 1]


def test_faces_come_left_to_right():
    find, _, _ = finder()
    frame = blank(120, 300)
    for x in (200, 20, 110):
        paint(frame, x, 30, 30, 36)
    assert [box[0] for box in boxes(find.find(frame))] == [20.0, 110.0, 200.0]


def test_min_and_max_size_drop_faces_by_box_diagonal():
    frame = blank(160, 300)
    paint(frame, 10, 10, 20, 24)  # diagonal 31 px
    paint(frame, 60, 10, 50, 60)  # 78 px
    paint(frame, 150, 10, 100, 120)  # 156 px
    assert len(finder()[0].find(frame)) == 3
    assert boxes(finder(min_size=40)[0].find(frame)) == [(60.0, 10.0, 110.0, 70.0),
                                                         (150.0, 10.0, 250.0, 130.0)]
    assert boxes(finder(max_size=100)[0].find(frame)) == [(10.0, 10.0, 30.0, 34.0),
                                                          (60.0, 10.0, 110.0, 70.0)]
    assert boxes(finder(min_size=40, max_size=100)[0].find(frame)) == [(60.0, 10.0, 110.0, 70.0)]


def test_rotation_is_retried_only_for_frames_where_nothing_was_detected():
    find, detector, _ = finder(rotate=(90, 180, 270))
    upright = paint(blank(), 10, 10, 30, 36)
    lying = paint(blank(), 50, 40, 48, 40)  # wider than tall: found once turned by 90 degrees
    garbage = paint(blank(), 10, 10, 30, 36, YELLOW)  # detected, then dropped by its landmarks
    nothing = blank()
    found = find.find_batch([upright, lying, garbage, nothing])
    # The rotated retries go to the detector as batches too: the two frames with no detection
    # at 90 degrees, then the still empty one at 180 and 270.
    assert detector.batch_sizes == [4, 2, 1, 1]
    assert [len(faces) for faces in found] == [1, 1, 0, 0]
    assert boxes(found[0]) == [(10.0, 10.0, 40.0, 46.0)]
    # The face found in the rotated frame is mapped back onto the painted rectangle.
    face = found[1][0]
    np.testing.assert_allclose(face.detection.box, (50, 40, 98, 80), atol=1.0)
    assert face.landmarks.dtype == np.float32
    inside = ((face.landmarks >= [49, 39]) & (face.landmarks <= [99, 81])).all(axis=1)
    assert inside[ALIGN_POINTS].all()
    # Level eyes in the rotated frame make a vertical eye line in the original one.
    eye_line = face.landmarks[45] - face.landmarks[36]
    assert abs(eye_line[0]) < 1e-3 * abs(eye_line[1])


def test_no_rotation_when_every_frame_has_a_detection():
    find, detector, _ = finder(rotate=(90,))
    find.find_batch([paint(blank(), 10, 10, 30, 36), paint(blank(), 60, 10, 30, 36)])
    assert detector.batch_sizes == [2]


def test_landmarks_that_do_not_look_like_a_face_are_dropped():
    frame = paint(paint(blank(), 10, 10, 30, 36), 100, 10, 30, 36, YELLOW)
    assert boxes(finder()[0].find(frame)) == [(10.0, 10.0, 40.0, 46.0)]
    assert len(finder(landmark_threshold=0.0)[0].find(frame)) == 2  # 0: the check is off


def test_the_default_landmark_threshold_keeps_a_face_shaped_set():
    face = UNIT_FACE_68 * [30, 36] + [10, 10]
    assert geometry.alignment_residual(face) < FaceFinderConfig.landmark_threshold
    garbage = np.random.default_rng(0).uniform(0, 1, (68, 2)) * [30, 36]
    assert geometry.alignment_residual(garbage) > FaceFinderConfig.landmark_threshold


@pytest.mark.parametrize(("re_feed", "shift_x"), [(1, 0.05 / 2), (2, 0.0)])
def test_re_feed_averages_the_landmarks_of_shifted_boxes(re_feed, shift_x):
    # The first two re-feed shifts move the box right, then left, by 5% of its width.
    frames = [paint(blank(), 10, 10, 30, 36), paint(blank(), 60, 50, 40, 48)]
    find, _, landmarker = finder(re_feed=re_feed)
    found = find.find_batch(frames)
    assert landmarker.calls == 2 * (re_feed + 1)
    for faces in found:
        left, top, right, bottom = faces[0].detection.box
        width = right - left
        expected = UNIT_FACE_68 * [width, bottom - top] + [left + shift_x * width, top]
        np.testing.assert_allclose(faces[0].landmarks, expected, atol=1e-4)
