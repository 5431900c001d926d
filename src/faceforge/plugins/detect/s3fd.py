"""S3FD (Zhang et al. 2017, "S3FD: Single Shot Scale-invariant Face Detector"), Faceswap's
default detector, as a PyTorch module with its published weights.

The network is VGG-16 with six detection heads at strides 4 to 128, anchors 4x the stride,
L2-normalised conv3_3/4_3/5_3 features and a max-out background on the first head. Pre- and
post-processing follow Faceswap's: the frame is fitted into a 640 px square, BGR minus the VGG
means; boxes are decoded SSD-style (variances 0.1 and 0.2), kept above a confidence and
thinned by non-maximum suppression. Weights: see faceforge.plugins.weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from faceforge.plugins.detect.base import DETECTORS, Detection, Detector, as_frame, clip_box
from faceforge.plugins.weights import load_into, locate_weights

if TYPE_CHECKING:
    import torch

#: BGR means of the VGG training images, subtracted from the input
VGG_MEANS_BGR = np.array([104.0, 117.0, 123.0], np.float32)
#: the strides of the six detection heads, finest first; each anchor is 4 strides wide
STRIDES = (4, 8, 16, 32, 64, 128)


def decode_boxes(offsets: np.ndarray, centres: np.ndarray, anchor: float) -> np.ndarray:
    """SSD box decoding: (N, 4) offsets (dx, dy, dw, dh) at anchor centres (N, 2) of side
    `anchor` -> (N, 4) boxes (x0, y0, x1, y1), with S3FD's variances 0.1 and 0.2."""
    centre = centres + offsets[:, :2] * 0.1 * anchor
    size = anchor * np.exp(offsets[:, 2:] * 0.2)
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1],
                                                                  0, None)
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(int(best))
        low = np.maximum(boxes[best, :2], boxes[rest, :2])
        high = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(high - low, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return kept


def heads_to_boxes(heads: list[tuple[np.ndarray, np.ndarray]], confidence: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """One image's head outputs (face probability (H, W), offsets (4, H, W)) -> boxes in
    input pixels (N, 4) and their scores (N,), those at or above `confidence`."""
    boxes, scores = [], []
    for stride, (face, offsets) in zip(STRIDES, heads, strict=True):
        ys, xs = np.nonzero(face >= confidence)
        if not len(ys):
            continue
        centres = np.stack([xs, ys], axis=1) * stride + stride / 2
        boxes.append(decode_boxes(offsets[:, ys, xs].T.astype(np.float64), centres, 4 * stride))
        scores.append(face[ys, xs].astype(np.float64))
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    return np.concatenate(boxes), np.concatenate(scores)


def torch_device(device: str | None) -> torch.device:
    """`device`, or the first GPU when there is one, else the CPU."""
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def s3fd_key(layout: str, key: str) -> str:
    """Faceswap's S3FD module uses face-alignment's parameter names."""
    return key


@dataclass
class S3fdConfig:
    """Options for S3FD.

    confidence: keep faces scoring at least this (Faceswap's default 0.7).
    iou_threshold: overlap above which the weaker of two boxes is dropped.
    input_px: frames are fitted into a square of this side (Faceswap's 640).
    batch_size: frames per forward pass (the network is large: 4 keeps a CPU's memory low).
    weights_dir: a folder holding the weights file, looked in first (see plugins.weights).
    device: "cpu", "cuda", ...; None takes the GPU when there is one.
    """

    confidence: float = 0.7
    iou_threshold: float = 0.3
    input_px: int = 640
    batch_size: int = 4
    weights_dir: str | None = None
    device: str | None = None


@DETECTORS.register("s3fd")
class S3fdDetector(Detector):
    """S3FD, Faceswap's default detector (PyTorch; weights fetched on first use)."""

    name = "s3fd"
    colour_order = "BGR"
    #: Not measured on S3FD itself (its weights are not on the measuring machine): S3FD and
    #: RetinaFace both learnt WIDER FACE's boxes, so this is RetinaFace's measured calibration
    #: (benchmarks/calibrate_dlib_box.py). Measure it with that script where the weights are.
    dlib_box_calibration = (-0.0214, 0.0561, 1.1010, 0.7743)
    weights_model = "s3fd"

    def __init__(
        self,
        confidence: float = S3fdConfig.confidence,
        iou_threshold: float = S3fdConfig.iou_threshold,
        input_px: int = S3fdConfig.input_px,
        batch_size: int = S3fdConfig.batch_size,
        weights_dir: str | os.PathLike[str] | None = S3fdConfig.weights_dir,
        device: str | None = S3fdConfig.device,
    ):
        self.config = S3fdConfig(confidence, iou_threshold, input_px, batch_size,
                                 None if weights_dir is None else str(weights_dir), device)
        self.input_size = (input_px, input_px)
        self.device = torch_device(device)
        from faceforge.nn.s3fd import S3FDNet

        path, file = locate_weights("s3fd", weights_dir)
        self.net = S3FDNet()
        load_into(self.net, path, file.layout, "S3FD", s3fd_key)
        self.net.eval().to(self.device)

    def pre_process(self, frames: list[np.ndarray]) -> object:
        """Each frame fitted into the input square (top left), BGR minus the VGG means."""
        size = self.config.input_px
        batch = np.zeros((len(frames), size, size, 3), np.float32)
        scales = []
        for i, frame in enumerate(frames):
            frame = as_frame(frame)
            height, width = frame.shape[:2]
            scale = size / max(height, width)
            new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(frame, (new_w, new_h), interpolation=interp)
            batch[i, :new_h, :new_w] = resized[..., ::-1] - VGG_MEANS_BGR
            scales.append(scale)
        return batch, scales

    def process(self, batch: object) -> object:
        import torch

        images, scales = batch  # type: ignore[misc]
        per_image: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in scales]
        step = max(1, self.config.batch_size)
        for start in range(0, len(images), step):
            chunk = torch.from_numpy(images[start:start + step]).permute(0, 3, 1, 2)
            with torch.inference_mode():
                heads = self.net(chunk.to(self.device))
            heads = [(face.float().cpu().numpy(), offsets.float().cpu().numpy())
                     for face, offsets in heads]
            for j in range(chunk.shape[0]):
                per_image[start + j] = [(face[j], offsets[j]) for face, offsets in heads]
        return per_image, scales

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        per_image, scales = raw  # type: ignore[misc]
        results = []
        for heads, scale, frame in zip(per_image, scales, frames, strict=True):
            height, width = frame.shape[:2]
            boxes, scores = heads_to_boxes(heads, self.config.confidence)
            found = []
            for i in nms(boxes, scores, self.config.iou_threshold):
                box = clip_box(*(boxes[i] / scale), width, height)
                if box is not None:
                    found.append(Detection(box=box, score=float(scores[i])))
            results.append(found)
        return results
