"""68-point landmarkers. Each module registers itself in LANDMARKERS when imported here."""

from faceforge.plugins.align import dlib68, fan, mesh  # noqa: F401 - registers the plugins
from faceforge.plugins.align.base import LANDMARKERS, Landmarker

__all__ = ["LANDMARKERS", "Landmarker"]
