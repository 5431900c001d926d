"""Face detectors. Each module registers itself in DETECTORS when imported here."""

from faceforge.plugins.detect import blazeface, cnn, hog, s3fd  # noqa: F401 - registers the plugins
from faceforge.plugins.detect.base import DETECTORS, Detection, Detector

__all__ = ["DETECTORS", "Detection", "Detector"]
