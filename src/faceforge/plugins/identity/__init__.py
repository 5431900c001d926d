"""Face identity: 128-d descriptors for filtering faces to one person and for sorting."""

from faceforge.core.thresholds import SAME_PERSON_DISTANCE
from faceforge.plugins.identity.dlib_descriptor import (
    FaceDescriber,
    cluster_descriptors,
    distance_to_refs,
    reference_descriptors,
)

__all__ = [
    "SAME_PERSON_DISTANCE",
    "FaceDescriber",
    "cluster_descriptors",
    "distance_to_refs",
    "reference_descriptors",
]
