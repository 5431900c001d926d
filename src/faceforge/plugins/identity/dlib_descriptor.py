"""dlib's ResNet face descriptor (128-d): faces of one person lie within about 0.6 of each other."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dlib
import numpy as np

from faceforge.errors import InputError
from faceforge.io.images import read_image_rgb
from faceforge.plugins.align.base import Landmarker
from faceforge.plugins.detect.base import Detector
from faceforge.plugins.model_files import dlib_model


class FaceDescriber:
    """Computes dlib_face_recognition_resnet_model_v1 descriptors from 68-point landmarks.

    num_jitters: how many randomly jittered crops to average per face; 1 is fastest, higher is
        slightly more accurate and proportionally slower.
    """

    def __init__(self, num_jitters: int = 1):
        self.num_jitters = num_jitters
        self._model = dlib.face_recognition_model_v1(
            str(dlib_model("dlib_face_recognition_resnet_model_v1.dat"))
        )

    def describe(self, frame: np.ndarray, landmarks_list: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 descriptors, one per (68, 2) landmark array of faces in `frame`."""
        if len(landmarks_list) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        # dlib reads garbage from non-contiguous arrays instead of raising.
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        shapes = []
        for landmarks_68 in landmarks_list:
            points = np.asarray(landmarks_68, dtype=np.float64).reshape(68, 2)
            # The network aligns its 150 px chip from the shape's points; the rectangle only
            # needs to enclose the face, so the points' bounding box serves.
            left, top = np.floor(points.min(axis=0)).astype(int)
            right, bottom = np.ceil(points.max(axis=0)).astype(int)
            shapes.append(
                dlib.full_object_detection(
                    dlib.rectangle(int(left), int(top), int(right), int(bottom)),
                    [dlib.point(int(round(x)), int(round(y))) for x, y in points],
                )
            )
        descriptors = self._model.compute_face_descriptor(
            frame, dlib.full_object_detections(shapes), self.num_jitters
        )
        return np.array([np.array(d) for d in descriptors], dtype=np.float32).reshape(-1, 128)


def reference_descriptors(
    image_paths: Sequence[str | Path],
    detector: Detector,
    landmarker: Landmarker,
    describer: FaceDescriber | None = None,
) -> np.ndarray:
    """(M, 128) descriptors of the largest face in each reference photo.

    The largest face is taken because a reference photo shows the person of interest up
    close; other people in it are usually smaller. Raises InputError if a photo has no face.
    """
    if not image_paths:
        raise InputError("no reference photos given", "pass at least one photo of the person")
    describer = describer or FaceDescriber()
    descriptors = []
    for image_path in image_paths:
        path = Path(image_path)
        image = read_image_rgb(path, "reference photo")
        landmarks_68 = _face_png_landmarks(path, image)
        if landmarks_68 is not None:
            descriptors.append(describer.describe(image, [landmarks_68])[0])
            continue
        faces = detector.detect([image])[0]
        if not faces:
            raise InputError(
                f"no face found in reference photo {path}",
                "use a clear, frontal photo of the person, or try another detector",
            )
        largest = max(faces, key=lambda face: face.width * face.height)
        landmarks_68 = landmarker.landmarks(image, [largest])
        descriptors.append(describer.describe(image, landmarks_68)[0])
    return np.stack(descriptors).astype(np.float32)


def _face_png_landmarks(path: Path, image: np.ndarray) -> np.ndarray | None:
    """The landmarks of an extracted face PNG in its own pixels, from its metadata.

    A faceforge face carries its landmarks and the matrix into the image, so it needs no
    detection. Faceswap's faces carry frame landmarks without that matrix: they (like any
    photo) go through the detector, which finds the large, centred face easily.
    """
    if path.suffix.lower() != ".png":
        return None
    from faceforge.errors import FormatError
    from faceforge.formats.face_png import read_face_meta

    try:
        meta = read_face_meta(path)
    except FormatError:
        return None  # a plain photo
    if meta.get("origin") != "faceforge" or meta.get("matrix") is None:
        return None
    scale = image.shape[1] / float(meta["size"])  # in case the image was resized since
    to_image = np.asarray(meta["matrix"], np.float64) * scale
    points = np.asarray(meta["landmarks"], np.float64)
    return (points @ to_image[:, :2].T + to_image[:, 2]).astype(np.float32)


def distance_to_refs(desc: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """(N,) smallest euclidean distance from each row of `desc` (N, 128) to `refs` (M, 128)."""
    desc = np.asarray(desc, dtype=np.float32).reshape(-1, 128)
    refs = np.asarray(refs, dtype=np.float32).reshape(-1, 128)
    if len(refs) == 0:
        raise ValueError("distance_to_refs needs at least one reference descriptor")
    if len(desc) == 0:
        return np.zeros((0,), dtype=np.float32)
    return np.linalg.norm(desc[:, None, :] - refs[None, :, :], axis=2).min(axis=1)


def cluster_descriptors(desc: np.ndarray, threshold: float) -> list[int]:
    """A cluster label per row of `desc` (N, 128): dlib's Chinese whispers over the graph of
    descriptors nearer than `threshold`, so each label is one person."""
    desc = np.asarray(desc, dtype=np.float64).reshape(-1, 128)
    if len(desc) == 0:
        return []
    vectors = [dlib.vector(row.tolist()) for row in desc]
    return list(dlib.chinese_whispers_clustering(vectors, float(threshold)))
