"""2D-FAN-4 (Bulat and Tzimiropoulos 2017, "How far are we from solving the 2D & 3D face
alignment problem?"), Faceswap's default landmarker, as a PyTorch module with its published
weights.

Four stacked hourglasses of depth 4 over 256 features, each ending in 68 heatmaps of 64x64.
Each face is cut from the frame as a 256 px RGB square around its S3FD-style box (side
(w + h) x 200/195, centre raised by 0.12 h, as the weights were trained); the last stack's
heatmaps give each point by their maximum, refined by a quarter cell towards the higher
neighbour, then mapped back to the frame. Weights: see faceforge.plugins.weights; Faceswap's
file names some modules differently (`fan_key` maps them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.plugins.align.base import LANDMARKERS, Landmarker
from faceforge.plugins.align.dlib68 import check_box_source, dlib_like_box
from faceforge.plugins.detect import DETECTORS
from faceforge.plugins.detect.base import Detection
from faceforge.plugins.detect.s3fd import torch_device
from faceforge.plugins.weights import load_into, locate_weights

CROP_PX = 256
HEATMAP_PX = 64


_FACESWAP_HOURGLASS = re.compile(r"^(m\d+\.b(?:1|2|3|2_plus)_\d+)_0\.")
_FACESWAP_TOP = re.compile(r"^top_m0_(\d+)\.")


def fan_key(layout: str, key: str) -> str:
    """A parameter name of `layout` as FANNet names it: Faceswap's module adds a module index
    (`m0.b1_4_0.` for `m0.b1_4.`, `top_m0_2.` for `top_m_2.`)."""
    if layout != "faceswap":
        return key
    key = _FACESWAP_HOURGLASS.sub(r"\1.", key)
    return _FACESWAP_TOP.sub(r"top_m_\1.", key)


def crop_matrix(box: tuple[float, float, float, float], scale: float, shift: float
                ) -> np.ndarray:
    """2x3 affine from frame pixels to the 256 px crop of a face box (face-alignment's crop:
    side (w + h) * scale, centre raised by shift * h)."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    side = max((width + height) * scale, 1.0)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2 - shift * height
    zoom = CROP_PX / side
    # Pixel centres are whole numbers in OpenCV: the crop's edge is at -0.5.
    return np.array([[zoom, 0.0, (CROP_PX - 1) / 2 - zoom * centre_x],
                     [0.0, zoom, (CROP_PX - 1) / 2 - zoom * centre_y]])


def heatmap_points(heatmaps: np.ndarray) -> np.ndarray:
    """(N, 68, 64, 64) heatmaps -> (N, 68, 2) points in heatmap cells (x, y; a cell's centre
    is at its index): the maximum, moved a quarter cell towards the higher neighbour."""
    count, points, height, width = heatmaps.shape
    flat = heatmaps.reshape(count, points, -1).argmax(axis=-1)
    ys, xs = np.divmod(flat, width)
    result = np.stack([xs, ys], axis=-1).astype(np.float64)
    n_index, p_index = np.meshgrid(np.arange(count), np.arange(points), indexing="ij")
    inside_x = (xs > 0) & (xs < width - 1)
    inside_y = (ys > 0) & (ys < height - 1)
    xr, xl = np.clip(xs + 1, 0, width - 1), np.clip(xs - 1, 0, width - 1)
    yd, yu = np.clip(ys + 1, 0, height - 1), np.clip(ys - 1, 0, height - 1)
    dx = heatmaps[n_index, p_index, ys, xr] - heatmaps[n_index, p_index, ys, xl]
    dy = heatmaps[n_index, p_index, yd, xs] - heatmaps[n_index, p_index, yu, xs]
    inside = inside_x & inside_y
    result[..., 0] += np.where(inside, np.sign(dx) * 0.25, 0.0)
    result[..., 1] += np.where(inside, np.sign(dy) * 0.25, 0.0)
    return result


def heatmap_to_crop(points: np.ndarray) -> np.ndarray:
    """Heatmap cells (centre at the index) -> crop pixels (centre at the index): a cell
    covers 4x4 crop pixels."""
    ratio = CROP_PX / HEATMAP_PX
    return points * ratio + (ratio - 1) / 2


@dataclass
class FanConfig:
    """Options for FAN.

    box_source: how a detection becomes the S3FD box FAN expects: "auto" maps any
        detector's box through its calibration (see plugins.align.dlib68) and S3FD's.
    crop_scale: crop side relative to the box's width + height (200/195, face-alignment's).
    centre_shift: the crop centre is raised by this share of the box height (0.12).
    batch_size: faces per forward pass.
    weights_dir: a folder holding the weights file, looked in first (see plugins.weights).
    device: "cpu", "cuda", ...; None takes the GPU when there is one.
    """

    box_source: str = "auto"
    crop_scale: float = 200.0 / 195.0
    centre_shift: float = 0.12
    batch_size: int = 8
    weights_dir: str | None = None
    device: str | None = None


def s3fd_box(detection: Detection, box_source: str) -> tuple[float, float, float, float]:
    """The box S3FD would have drawn: the detection's own for an S3FD detection, otherwise
    its HOG-equivalent box mapped back through S3FD's calibration."""
    if detection.source == "s3fd" and box_source == "auto":
        return detection.box
    left, top, right, bottom = dlib_like_box(detection, box_source)
    shift_x, shift_y, *ratios = DETECTORS.get("s3fd").dlib_box_calibration or (0.0, 0.0, 1.0)
    width, height = (right - left) / ratios[0], (bottom - top) / ratios[-1]
    centre_x = (left + right) / 2 - shift_x * width
    centre_y = (top + bottom) / 2 - shift_y * height
    return (centre_x - width / 2, centre_y - height / 2, centre_x + width / 2,
            centre_y + height / 2)


@LANDMARKERS.register("fan")
class FanLandmarker(Landmarker):
    """2D-FAN-4, Faceswap's default aligner (PyTorch; weights fetched on first use)."""

    name = "fan"
    input_size = (CROP_PX, CROP_PX)
    weights_model = "fan"

    def __init__(
        self,
        box_source: str = FanConfig.box_source,
        crop_scale: float = FanConfig.crop_scale,
        centre_shift: float = FanConfig.centre_shift,
        batch_size: int = FanConfig.batch_size,
        weights_dir: str | os.PathLike[str] | None = FanConfig.weights_dir,
        device: str | None = FanConfig.device,
    ):
        check_box_source(box_source)
        self.config = FanConfig(box_source, crop_scale, centre_shift, batch_size,
                                None if weights_dir is None else str(weights_dir), device)
        self.device = torch_device(device)
        from faceforge.nn.fan import FANNet

        path, file = locate_weights("fan", weights_dir)
        self.net = FANNet()
        load_into(self.net, path, file.layout, "2D-FAN-4", fan_key)
        self.net.eval().to(self.device)

    def crops(self, frame: np.ndarray, detections: list[Detection]
              ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The (N, 256, 256, 3) RGB crops of the faces and each crop's frame -> crop matrix."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        matrices = [crop_matrix(s3fd_box(d, self.config.box_source), self.config.crop_scale,
                                self.config.centre_shift) for d in detections]
        crops = [cv2.warpAffine(frame, m, (CROP_PX, CROP_PX), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
                 for m in matrices]
        return np.stack(crops), matrices

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        import torch

        out = []
        step = max(1, self.config.batch_size)
        for start in range(0, len(crops), step):
            batch = torch.from_numpy(crops[start:start + step]).permute(0, 3, 1, 2)
            batch = batch.to(self.device).float().div_(255.0)
            with torch.inference_mode():
                out.append(self.net(batch).float().cpu().numpy())
        return np.concatenate(out)

    def landmarks(self, frame: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        if not detections:
            return []
        crops, matrices = self.crops(frame, detections)
        return points_in_frame(self.heatmaps(crops), matrices)


def points_in_frame(heatmaps: np.ndarray, matrices: list[np.ndarray]) -> list[np.ndarray]:
    """FAN's post-processing: heatmaps of each face -> (68, 2) float32 frame points."""
    results = []
    for points, matrix in zip(heatmap_points(heatmaps), matrices, strict=True):
        to_frame = cv2.invertAffineTransform(matrix)
        crop_points = heatmap_to_crop(points)
        results.append((crop_points @ to_frame[:, :2].T + to_frame[:, 2]).astype(np.float32))
    return results
