"""MediaPipe face mesh (468 points) on an upright crop around each face, converted to iBUG 68.

The crop follows MediaPipe's face-landmark graph: a square 1.5x the face box, rotated so the
eyes are level when the detection has BlazeFace eye keypoints. The 468 -> 68 conversion is a
fixed weighted sum of mesh vertices per iBUG point, measured against dlib's 68 points by
benchmarks/derive_mesh68_mapping.py and stored in data/mesh68_mapping.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceforge.errors import FormatError, InputError
from faceforge.plugins.align.base import LANDMARKERS, Landmarker
from faceforge.plugins.align.dlib68 import (
    check_box_source,
    dlib_like_box,
    eye_roll,
    upright_transform,
)
from faceforge.plugins.detect.base import Detection
from faceforge.plugins.model_files import tflite_interpreter

MAPPING_FILE = Path(__file__).parent / "data" / "mesh68_mapping.json"
MESH_INPUT_PX = 192
#: crop side relative to the (dlib-like) face box; MediaPipe uses 1.5x its detector box,
#: which is about the same size as the dlib-like box for BlazeFace short range.
CROP_SCALE = 1.5


def load_mesh68_mapping(path: Path = MAPPING_FILE) -> np.ndarray:
    """The (68, 468) float32 matrix that turns mesh vertices into iBUG 68 points."""
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(
            f"mesh to 68-point mapping {path} is missing",
            "reinstall faceforge or run benchmarks/derive_mesh68_mapping.py",
        ) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"mesh to 68-point mapping {path} is not JSON ({exc})") from None
    points = spec.get("points")
    if spec.get("version") != 1 or not isinstance(points, list) or len(points) != 68:
        raise FormatError(f"mesh to 68-point mapping {path} is not a version 1 mapping")
    matrix = np.zeros((68, 468), dtype=np.float32)
    for row, terms in enumerate(points):
        for vertex, weight in terms:
            matrix[row, int(vertex)] = float(weight)
    return matrix


def crop_transform(detection: Detection, box_source: str) -> np.ndarray:
    """2x3 affine from frame pixels to the 192x192 mesh input, face upright and centred."""
    left, top, right, bottom = dlib_like_box(detection, box_source)
    side = max(right - left, bottom - top, 1.0) * CROP_SCALE
    centre = ((left + right) / 2, (top + bottom) / 2)
    return upright_transform(centre, eye_roll(detection), MESH_INPUT_PX / side, MESH_INPUT_PX)


@dataclass
class MeshConfig:
    """Options for the mesh landmarker.

    box_source: detector whose boxes seed the crop (see faceforge.plugins.align.dlib68).
    num_threads: interpreter threads; 1 leaves the second core to the rest of the pipeline.
    """

    box_source: str = "auto"
    num_threads: int = 1


@LANDMARKERS.register("mesh")
class MeshLandmarker(Landmarker):
    """MediaPipe face_landmark.tflite (468 points), returned as iBUG 68 points."""

    name = "mesh"
    input_size = (MESH_INPUT_PX, MESH_INPUT_PX)

    def __init__(
        self,
        box_source: str = MeshConfig.box_source,
        num_threads: int = MeshConfig.num_threads,
        mapping_file: Path | None = MAPPING_FILE,
    ):
        check_box_source(box_source)
        self.config = MeshConfig(box_source=box_source, num_threads=num_threads)
        # mapping_file=None gives a landmarker that can only produce raw mesh points, which is
        # what the script that derives the mapping needs.
        self._mapping = None if mapping_file is None else load_mesh68_mapping(mapping_file)
        self._interpreter = tflite_interpreter("face_landmark.tflite", num_threads)
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        self._mesh_index = next(o["index"] for o in outputs if int(o["shape"][-1]) == 1404)

    def mesh468(self, frame: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        """(468, 3) mesh points per detection: x, y in frame pixels, z in crop pixels."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        results = []
        for detection in detections:
            to_crop = crop_transform(detection, self.config.box_source)
            # Parts of the crop outside the frame are black, as in MediaPipe's own cropping.
            crop = cv2.warpAffine(
                frame, to_crop, (MESH_INPUT_PX, MESH_INPUT_PX), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
            )
            tensor = (crop.astype(np.float32) / 255.0)[None]
            self._interpreter.set_tensor(self._input_index, tensor)
            self._interpreter.invoke()
            mesh = self._interpreter.get_tensor(self._mesh_index).reshape(468, 3).astype(np.float64)
            to_frame = cv2.invertAffineTransform(to_crop)
            xy = mesh[:, :2] @ to_frame[:, :2].T + to_frame[:, 2]
            results.append(np.hstack([xy, mesh[:, 2:]]).astype(np.float32))
        return results

    def landmarks(self, frame: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        if self._mapping is None:
            raise InputError("this mesh landmarker was built without a 68-point mapping")
        return [
            (self._mapping @ mesh[:, :2]).astype(np.float32)
            for mesh in self.mesh468(frame, detections)
        ]
