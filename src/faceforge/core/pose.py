"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks, for sorting and checking faces.

Six landmarks are matched to a generic 3-D face (the widely used approximate model: nose tip,
chin, outer eye corners, mouth corners, in millimetre-like units) with OpenCV's PnP solver and a
pinhole camera whose focal length is the frame width. Good to a few degrees: enough to tell a
frontal face from a profile, not a measuring instrument.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Landmark indices and their 3-D positions in camera axes (x right, y down, z away from the
# camera), nose tip at the origin. 36 is the outer corner of the eye on the image's left.
_POSE_POINTS = (30, 8, 36, 45, 48, 54)
_MODEL_3D = np.array([
    (0.0, 0.0, 0.0),          # nose tip
    (0.0, 330.0, 65.0),       # chin
    (-225.0, -170.0, 135.0),  # outer eye corner, image left
    (225.0, -170.0, 135.0),   # outer eye corner, image right
    (-150.0, 150.0, 125.0),   # mouth corner, image left
    (150.0, 150.0, 125.0),    # mouth corner, image right
])


def head_pose(landmarks_68: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float,
                                                                               float]:
    """(yaw, pitch, roll) in degrees of a face in a frame of (width, height) pixels.

    yaw > 0: the face turns towards the image's right; pitch > 0: it looks up; roll > 0: its
    eye line tilts clockwise in the image. Frontal is (0, 0, 0).
    """
    points = np.asarray(landmarks_68, dtype=np.float64)
    width, height = frame_size
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], np.float64)
    image_points = np.ascontiguousarray(points[list(_POSE_POINTS)]).reshape(-1, 1, 2)
    ok, rotation_vector, _ = cv2.solvePnP(_MODEL_3D.reshape(-1, 1, 3), image_points, camera,
                                          np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    left_eye, right_eye = points[36], points[45]
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    if not ok:
        return float("nan"), float("nan"), roll
    rotation, _ = cv2.Rodrigues(rotation_vector)
    # Where the face looks: the model's -z axis (out of the face, towards the camera).
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    yaw = math.degrees(math.atan2(forward[0], -forward[2]))
    pitch = math.degrees(math.atan2(-forward[1], math.hypot(forward[0], forward[2])))
    return yaw, pitch, roll
