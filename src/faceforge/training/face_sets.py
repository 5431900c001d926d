"""Training face sets: a faces folder loaded into memory at the crop a model trains on.

Extraction stores large head-centred faces; here each face is re-cut to the trainer's centering,
coverage and size in one warp (no double resampling), and its face/eye/mouth masks are drawn
from its landmarks in the same space. The set is then a few uint8 tensors held in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from faceforge.core import geometry
from faceforge.core.masks import landmark_mask, region_masks
from faceforge.errors import InputError, UsageError
from faceforge.formats.face_png import parse_face_meta
from faceforge.formats.png_chunks import decode_png
from faceforge.io.files import read_bytes

log = logging.getLogger(__name__)

FACE_EXTENSIONS = (".png",)
MASK_CHANNELS = ("face", "eyes", "mouth")


@dataclass
class FaceSet:
    """One side's faces, cropped for training, in memory."""

    side: str
    folder: Path
    images: torch.Tensor  # uint8 (N, 3, S, S) RGB
    masks: torch.Tensor  # uint8 (N, 3, S, S): face (extended), eyes, mouth
    landmarks: torch.Tensor  # float32 (N, 68, 2) in crop pixels
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)


def list_face_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"faces folder {folder} not found",
                         "pass the folder `faceforge extract -o` wrote")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", "pass a folder of extracted faces")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in FACE_EXTENSIONS and not p.name.startswith("."))
    if not files:
        raise InputError(f"faces folder {folder} holds no face images (.png)",
                         "run `faceforge extract` into it first")
    return files


def _load_one(path: Path, size: int, centering: str, coverage: float,
              relandmark: Callable[[np.ndarray, Path], np.ndarray],
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = read_bytes(path, "face image")  # read once: metadata and pixels from the same bytes
    meta = parse_face_meta(data, str(path))
    image = decode_png(data, cv2.IMREAD_COLOR, path, "face image")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if meta.get("origin") == "faceswap" or meta.get("matrix") is None:
        # Faceswap's aligned space is not ours: find the landmarks on the face image itself.
        face_landmarks = relandmark(image, path)
        matrix = geometry.aligned_matrix(geometry.legacy_matrix(face_landmarks), size,
                                         centering, coverage)
    else:
        frame_to_png = np.asarray(meta["matrix"], dtype=np.float64)
        face_landmarks = geometry.transform_points(np.asarray(meta["landmarks"]), frame_to_png)
        matrix = geometry.change_crop(int(meta["size"]), meta["centering"], size, centering,
                                      float(meta.get("coverage") or 1.0), coverage)
    interpolation = cv2.INTER_AREA if geometry.matrix_scale(matrix) < 1 else cv2.INTER_CUBIC
    crop = cv2.warpAffine(image, matrix, (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_REPLICATE)
    masks = [landmark_mask(face_landmarks, matrix, size, "extended")]
    regions = region_masks(face_landmarks, matrix, size)
    masks += [regions["eyes"], regions["mouth"]]
    landmarks = geometry.transform_points(face_landmarks, matrix).astype(np.float32)
    return crop, np.stack(masks), landmarks


class _Relandmarker:
    """Finds landmarks on aligned face images that carry none we can use (Faceswap's faces)."""

    def __init__(self) -> None:
        self.finder = None
        self.lock = threading.Lock()  # detector and landmarker are not thread-safe

    def __call__(self, image: np.ndarray, path: Path) -> np.ndarray:
        with self.lock:
            return self._find(image, path)

    def _find(self, image: np.ndarray, path: Path) -> np.ndarray:
        if self.finder is None:
            from faceforge.pipeline.faces import FaceFinder, FaceFinderConfig

            self.finder = FaceFinder(FaceFinderConfig())  # the default detector and landmarker
        faces = self.finder.find(np.ascontiguousarray(image))
        if not faces:
            raise InputError(f"no face found in {path}", "delete it from the faces folder")
        return max(faces, key=lambda f: f.detection.width).landmarks.astype(np.float64)


def load_face_set(
    folder: Path,
    side: str,
    size: int,
    centering: str = "face",
    coverage: float = 0.875,
    min_faces: int = 1,
    workers: int = 2,
) -> FaceSet:
    """Load every face PNG in `folder`, cropped to size x size at the given centering/coverage."""
    files = list_face_files(folder)
    if len(files) < min_faces:
        raise UsageError(
            f"faces folder {folder} holds {len(files)} faces, fewer than one batch "
            f"({min_faces})", "extract more faces or lower --batch-size")
    relandmark = _Relandmarker()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(pool.map(
            lambda p: _load_one(p, size, centering, coverage, relandmark), files))
    images = torch.from_numpy(np.stack([c for c, _, _ in loaded])).permute(0, 3, 1, 2)
    masks = torch.from_numpy(np.stack([m for _, m, _ in loaded]))
    landmarks = torch.from_numpy(np.stack([lm for _, _, lm in loaded]))
    log.info("side %s: %d faces from %s", side.upper(), len(files), folder)
    return FaceSet(side=side, folder=Path(folder), images=images.contiguous(), masks=masks,
                   landmarks=landmarks, names=[p.name for p in files])


def check_alignments(face_set: FaceSet, alignments: Path) -> int:
    """Check a face set against its alignments; returns how many faces the alignments know.

    The faces carry their own landmarks, so the alignments are optional; when given they must
    be a faceforge store or a Faceswap .fsa file, and faces they do not list (e.g. from
    another video) are reported. Faces are matched by the frame and face index their own
    metadata names (Faceswap's faces by frame file name when they come from images).
    """
    import re

    from faceforge.formats.face_png import read_face_meta
    from faceforge.formats.fsa import read_alignments

    _meta, frames = read_alignments(alignments)
    video_frame = re.compile(r"^(?P<stem>.+)_(?P<index>\d{6,})$")
    known = set()
    for frame in frames:
        match = video_frame.match(frame.name)
        for face in frame.faces:
            known.add((frame.name, face.face_index))
            if match is not None:
                known.add((match["stem"], int(match["index"]), face.face_index))
    matched = 0
    for name in face_set.names:
        meta = read_face_meta(face_set.folder / name)
        stem = Path(meta["source"]).stem if meta.get("source") else None
        if ((stem, meta.get("frame_index"), meta.get("face_index")) in known
                or (meta.get("frame_name"), meta.get("face_index")) in known):
            matched += 1
    if matched < len(face_set):
        log.warning("%d of %d faces in %s are not in %s", len(face_set) - matched,
                    len(face_set), face_set.folder, alignments)
    return matched
