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


# Landmarks the generic face cannot be posed to fit (mean misfit over this share of the
# eye-corner distance) are not a face seen in perspective: no pose is given for them.
MAX_MISFIT = 0.25


def head_pose(landmarks_68: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float,
                                                                               float]:
    """(yaw, pitch, roll) in degrees of a face in a frame of (width, height) pixels.

    yaw > 0: the face turns towards the image's right; pitch > 0: it looks up; roll > 0: its
    eye line tilts clockwise in the image. Frontal is (0, 0, 0). Yaw and pitch are NaN
    when the points cannot be a face (degenerate, or far from any pose of the generic face).
    """
    points = np.asarray(landmarks_68, dtype=np.float64)
    width, height = frame_size
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], np.float64)
    image_points = np.ascontiguousarray(points[list(_POSE_POINTS)]).reshape(-1, 1, 2)
    left_eye, right_eye = points[36], points[45]
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    try:
        ok, rotation_vector, translation = cv2.solvePnP(_MODEL_3D.reshape(-1, 1, 3), image_points,
                                              camera, np.zeros(4),
                                              flags=cv2.SOLVEPNP_ITERATIVE)
    except cv2.error:  # degenerate points (all on a line): no pose to be had
        ok = False
    eye_distance = float(np.linalg.norm(right_eye - left_eye))
    ok = ok and eye_distance > 0
    if ok:
        projected, _ = cv2.projectPoints(_MODEL_3D, rotation_vector, translation, camera,
                                         np.zeros(4))
        misfit = np.linalg.norm(projected.reshape(-1, 2) - image_points.reshape(-1, 2), axis=1)
        ok = float(misfit.mean()) / eye_distance < MAX_MISFIT
    if not ok:
        return float("nan"), float("nan"), roll
    rotation, _ = cv2.Rodrigues(rotation_vector)
    # Where the face looks: the model's -z axis (out of the face, towards the camera).
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    yaw = math.degrees(math.atan2(forward[0], -forward[2]))
    pitch = math.degrees(math.atan2(-forward[1], math.hypot(forward[0], forward[2])))
    return yaw, pitch, roll
