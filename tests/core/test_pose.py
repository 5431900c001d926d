"""Head pose from landmarks: a face posed at a known yaw and pitch reads back as that pose."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.core import pose


def _posed_landmarks(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """68 landmarks (only the pose points set) of the generic face turned by yaw (towards the
    image's right), pitch (up) and roll (clockwise), seen by a 400 px pinhole camera."""
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    # Turning the face to the image's right is a negative turn about the camera's y axis.
    turn_y = np.array([[np.cos(-yaw), 0, np.sin(-yaw)], [0, 1, 0],
                       [-np.sin(-yaw), 0, np.cos(-yaw)]])
    # Looking up points the face's forward axis (0, 0, -1) to negative y (image y is down):
    # a negative turn about the x axis.
    turn_x = np.array([[1, 0, 0], [0, np.cos(-pitch), -np.sin(-pitch)],
                       [0, np.sin(-pitch), np.cos(-pitch)]])
    turn_z = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0],
                       [0, 0, 1]])
    points = pose._MODEL_3D @ (turn_z @ turn_y @ turn_x).T + np.array([0.0, 0.0, 2000.0])
    image = points[:, :2] / points[:, 2:] * 400 + 200
    landmarks = np.full((68, 2), 200.0)
    landmarks[list(pose._POSE_POINTS)] = image
    return landmarks


def test_a_frontal_face_has_no_pose():
    np.testing.assert_allclose(pose.head_pose(_posed_landmarks(0, 0), (400, 400)), (0, 0, 0),
                               atol=1e-6)


@pytest.mark.parametrize(("yaw", "pitch"), [(30, 0), (-45, 0), (0, 20), (0, -25), (25, 15)])
def test_yaw_and_pitch_read_back_with_their_signs(yaw, pitch):
    found_yaw, found_pitch, _ = pose.head_pose(_posed_landmarks(yaw, pitch), (400, 400))
    assert found_yaw == pytest.approx(yaw, abs=2)
    assert found_pitch == pytest.approx(pitch, abs=2)


def test_a_tilted_eye_line_is_roll():
    _, _, roll = pose.head_pose(_posed_landmarks(0, 0, 20), (400, 400))
    assert roll == pytest.approx(20, abs=1)


def test_degenerate_landmarks_give_no_pose_rather_than_an_error():
    yaw, pitch, _ = pose.head_pose(np.zeros((68, 2)), (400, 400))
    assert np.isnan(yaw) and np.isnan(pitch)


def test_points_no_face_could_make_give_no_pose():
    line = np.zeros((68, 2))
    line[:, 0] = np.arange(68) * 5.0
    line[:, 1] = 200 + np.sin(np.arange(68)) * 40  # the eye corners apart, nothing face-like
    yaw, pitch, _ = pose.head_pose(line, (400, 400))
    assert np.isnan(yaw) and np.isnan(pitch)
