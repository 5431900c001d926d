"""Head pose from landmarks: frontal is near zero; a face turned or tilted reads so."""

from __future__ import annotations

import numpy as np

from faceforge.core import geometry
from faceforge.core.pose import head_pose


def _frontal(size: int = 400) -> np.ndarray:
    """A frontal face in a size x size frame: the mean face's points, made 68 by adding a jaw
    below (only a few points matter for the pose)."""
    points = np.zeros((68, 2))
    points[17:] = geometry.mean_face()
    points[:17, 0] = np.linspace(0.0, 1.0, 17)
    points[:17, 1] = 0.7 + 0.3 * np.sin(np.linspace(0, np.pi, 17))
    points[8] = (0.5, 1.1)
    return points * size * 0.4 + size * 0.3


def test_a_frontal_face_has_no_yaw_pitch_or_roll_to_speak_of():
    yaw, pitch, roll = head_pose(_frontal(), (400, 400))
    assert abs(yaw) < 10 and abs(roll) < 1
    assert abs(pitch) < 25  # the generic 3-D model is not this face: a bias, not a turn


def test_moving_the_nose_sideways_reads_as_yaw_that_way():
    base = _frontal()
    yaw0, _, _ = head_pose(base, (400, 400))
    right = base.copy()
    right[27:36, 0] += 25  # nose towards the image's right
    left = base.copy()
    left[27:36, 0] -= 25
    assert head_pose(right, (400, 400))[0] > yaw0 + 10
    assert head_pose(left, (400, 400))[0] < yaw0 - 10


def test_a_tilted_eye_line_is_roll():
    base = _frontal()
    centre = base.mean(axis=0)
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = (base - centre) @ rotation.T + centre
    assert abs(head_pose(turned, (400, 400))[2] - 20) < 1
