"""Face detectors. Each module registers itself in DETECTORS when imported here."""

from faceforge.plugins.detect import (  # noqa: F401 - registers the plugins
    blazeface,
    cnn,
    cv2_dnn,
    hog,
    mtcnn,
    retinaface,
    s3fd,
)
from faceforge.plugins.detect.base import DETECTORS, Detection, Detector

__all__ = ["DETECTORS", "Detection", "Detector"]
