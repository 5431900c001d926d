"""Faceswap-structured alignments documents, built the way Faceswap lays them out (its
documented `__meta__`/`__data__` structure, faces with x/y/w/h, landmarks_xy, masks, identity,
thumb, and per-frame video_meta), for the .fsa tests."""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterable

import cv2
import numpy as np

from faceforge.core import geometry
from faceforge.core.masks import landmark_mask
from faceforge.formats import FrameRecord

#: the keys Faceswap's FileAlignments / MaskAlignmentsFile / AlignmentsEntry accept
FACE_KEYS = {"x", "y", "w", "h", "landmarks_xy", "mask", "identity", "thumb"}
MASK_KEYS = {"mask", "affine_matrix", "interpolator", "stored_size", "stored_centering"}
FRAME_KEYS = {"faces", "video_meta"}


def faceswap_face(landmarks: np.ndarray, box: tuple[float, ...], rng: np.random.Generator,
                  frame_rgb: np.ndarray | None, arrays: bool) -> dict:
    """One face as Faceswap stores it: an extended mask at 128 px in *face* centering (not our
    head centering), a vggface2-sized identity and a JPEG thumbnail. `arrays`: numpy arrays
    as Faceswap < 2.4 wrote them, else lists as 2.4 does."""
    legacy = geometry.legacy_matrix(landmarks)
    mask_matrix = geometry.aligned_matrix(legacy, 128, "face")
    mask = landmark_mask(landmarks, mask_matrix, 128, "extended")
    thumb_source = (frame_rgb if frame_rgb is not None
                    else rng.integers(0, 255, (64, 64, 3), np.uint8))
    thumb = cv2.warpAffine(thumb_source, geometry.aligned_matrix(legacy, 96, "head"), (96, 96))
    jpeg = cv2.imencode(".jpg", thumb)[1].ravel()
    identity = rng.normal(size=512).astype(np.float32)
    left, top, right, bottom = box
    face = {
        "x": int(round(left)), "y": int(round(top)),
        "w": int(round(right - left)), "h": int(round(bottom - top)),
        "landmarks_xy": landmarks.astype(np.float32),
        "mask": {"extended": {"mask": zlib.compress(mask.tobytes()),
                              "affine_matrix": mask_matrix.astype(np.float32),
                              "interpolator": cv2.INTER_CUBIC, "stored_size": 128,
                              "stored_centering": "face"}},
        "identity": {"vggface2": identity},
        "thumb": jpeg.astype(np.uint8),
    }
    if not arrays:
        face["landmarks_xy"] = face["landmarks_xy"].tolist()
        face["mask"]["extended"]["affine_matrix"] = mask_matrix.tolist()
        face["identity"]["vggface2"] = identity.tolist()
        face["thumb"] = jpeg.tolist()
    return face


def faceswap_document(frames: Iterable[FrameRecord], stem: str, rng: np.random.Generator,
                      version: float = 2.3, extension: str = ".png") -> dict:
    """A document shaped like Faceswap's for a video `stem`: 1-based frame keys ending in
    `extension` (.png before Faceswap 2.4, the video's own after)."""
    arrays = version < 2.4
    data = {}
    for frame in frames:
        key = f"{stem}_{frame.index + 1:06d}{extension}"
        data[key] = {
            "faces": [faceswap_face(face.landmarks, face.box, rng, None, arrays)
                      for face in frame.faces],
            "video_meta": {"pts_time": frame.index * 512, "keyframe": frame.index % 30 == 0},
        }
    return {"__meta__": {"version": version}, "__data__": data}


def fsa_bytes(document: dict, protocol: int = 4) -> bytes:
    """The document as Faceswap writes it: pickled by the real pickle, then zlib."""
    return zlib.compress(pickle.dumps(document, protocol=protocol))
