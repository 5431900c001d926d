"""`tools mask ...`: landmark masks (re)computed into a store, stored masks written out as
images and read back in, and previews of masks drawn over faces.

Stored masks are square, head-centred, `STORED_MASK_SIZE` pixels, as extraction stores them.
Mask images outside the store are cut at any size and centering; the face's alignment maps one
to the other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceforge.core import geometry
from faceforge.core.masks import landmark_mask
from faceforge.errors import InputError, OutputError, UsageError
from faceforge.events import EventSink
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.face_png import face_filename, parse_face_filename, read_face_png
from faceforge.io.files import atomic_write, ensure_writable_dir
from faceforge.io.images import read_image_rgb
from faceforge.options import option_defaults
from faceforge.options import tools as opts
from faceforge.tools.face_folder import read_faces_folder
from faceforge.tools.progress import Counter, interruptible
from faceforge.tools.stores import edited_store, source_name, source_stem

STORED_MASK_SIZE = 128  # as pipeline.extract stores masks (its MASK_SIZE), head-centred
_KEPT = "the store is as it was"


def _write_grey(path: Path, image: np.ndarray, quality: int = 90) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else \
        [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise OutputError(f"could not encode {path}")
    atomic_write(path, data.tobytes(), durable=False)


def change_mask_crop(mask: np.ndarray, from_centering: str, to_size: int,
                     to_centering: str) -> np.ndarray:
    """A square mask cut at one centering, redrawn at another size and centering."""
    matrix = geometry.change_crop(mask.shape[0], from_centering, to_size, to_centering)
    return cv2.warpAffine(mask, matrix, (to_size, to_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MASK_GENERATE)
class GenerateConfig:
    alignments: Path
    masker: list[str]
    faces: Path | None

    def __post_init__(self) -> None:
        self.alignments = Path(self.alignments)
        self.faces = None if self.faces in (None, "") else Path(self.faces)
        if not self.masker:
            raise UsageError("no mask to generate", "pass -M components or -M extended")


@dataclass
class MasksResult:
    alignments: Path
    faces: int
    masks: list[str]
    backup: Path | None = None
    action: str = "generated"

    def lines(self) -> list[str]:
        out = [f"{self.action} {', '.join(self.masks)} masks of {self.faces} faces in "
               f"{self.alignments}"]
        if self.backup is not None:
            out.append(f"the store as it was: {self.backup}")
        return out


def generate(config: GenerateConfig, on_event: EventSink | None = None,
             stop: threading.Event | None = None) -> MasksResult:
    """Compute landmark masks into the store, for every face or the faces of a faces folder.
    The store is backed up and replaced whole."""
    keys = None
    if config.faces is not None:
        with AlignmentsStore.open(config.alignments, "r") as store:
            name = source_name(store.meta())
        keys = {f.key for f in read_faces_folder(config.faces) if f.belongs_to(name)}
        if not keys:
            raise UsageError(f"no face image in {config.faces} comes from the source of "
                             f"{config.alignments}", "pass the faces folder of this store")
    count = 0
    with interruptible("tools mask generate", _KEPT), edited_store(config.alignments) as edit:
        frames = [frame for frame in edit.store.iter_frames() if frame.faces]
        counter = Counter(len(frames), "frame", on_event, stop, "tools mask generate")
        batch = []
        for frame in frames:
            counter.check_stop(_KEPT)
            for face in frame.faces:
                if keys is not None and (frame.index, face.face_index) not in keys:
                    continue
                matrix = geometry.aligned_matrix(face.matrix, STORED_MASK_SIZE, "head")
                for name in config.masker:
                    face.masks[name] = landmark_mask(face.landmarks, matrix, STORED_MASK_SIZE,
                                                     name)
                count += 1
            batch.append(frame)
            if len(batch) >= 256:
                edit.store.add_frames(batch)
                batch = []
            counter.advance()
        edit.store.add_frames(batch)
    return MasksResult(config.alignments, count, list(config.masker), edit.backup)


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MASK_EXPORT)
class ExportConfig:
    alignments: Path
    output: Path
    masker: str
    size: int
    centering: str

    def __post_init__(self) -> None:
        self.alignments, self.output = Path(self.alignments), Path(self.output)


@dataclass
class MaskImagesResult:
    output: Path
    written: int
    missing: int = 0

    def lines(self) -> list[str]:
        out = [f"wrote {self.written} images to {self.output}"]
        if self.missing:
            out.append(f"{self.missing} faces have no such mask stored (none written)")
        return out


def export_masks(config: ExportConfig, on_event: EventSink | None = None,
                 stop: threading.Event | None = None) -> MaskImagesResult:
    """Each face's stored mask as a grey PNG named like the face image, at --size and
    --centering (as `tools alignments extract` would cut the face)."""
    output = ensure_writable_dir(config.output)
    result = MaskImagesResult(output, 0)
    with AlignmentsStore.open(config.alignments, "r") as store, \
            interruptible("tools mask export", "the masks written so far are complete"):
        stem = source_stem(store.meta()) or config.alignments.stem
        counter = Counter(store.face_count(), "face", on_event, stop, "tools mask export")
        for frame in store.iter_frames():
            for face in frame.faces:
                counter.check_stop("the masks written so far are complete")
                mask = face.masks.get(config.masker)
                if mask is None:
                    result.missing += 1
                else:
                    image = change_mask_crop(mask, "head", config.size, config.centering)
                    _write_grey(output / face_filename(stem, frame.index, face.face_index),
                                image)
                    result.written += 1
                counter.advance()
    return result


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MASK_IMPORT)
class ImportConfig:
    alignments: Path
    input: Path
    masker: str
    centering: str

    def __post_init__(self) -> None:
        self.alignments, self.input = Path(self.alignments), Path(self.input)


def import_masks(config: ImportConfig, on_event: EventSink | None = None,
                 stop: threading.Event | None = None) -> MasksResult:
    """Store mask images (named like the faces, grey, any size, cut at --centering) under the
    name -M. The store is backed up and replaced whole."""
    with AlignmentsStore.open(config.alignments, "r") as store:
        stem = source_stem(store.meta())
    if not config.input.is_dir():
        raise InputError(f"mask folder {config.input} not found")
    images = {}
    for path in sorted(config.input.iterdir()):
        parsed = parse_face_filename(path.name)
        if parsed is not None and (stem is None or parsed[0] == stem):
            images[(parsed[1], parsed[2])] = path
    if not images:
        raise InputError(f"no mask image in {config.input} is named like a face of "
                         f"{config.alignments}", f"name them {stem}_<frame>_<face>.png")
    count = 0
    with interruptible("tools mask import", _KEPT), edited_store(config.alignments) as edit:
        frames = [frame for frame in edit.store.iter_frames()
                  if any((frame.index, f.face_index) in images for f in frame.faces)]
        counter = Counter(len(frames), "frame", on_event, stop, "tools mask import")
        for frame in frames:
            counter.check_stop(_KEPT)
            for face in frame.faces:
                path = images.get((frame.index, face.face_index))
                if path is None:
                    continue
                grey = cv2.cvtColor(read_image_rgb(path, "mask image"), cv2.COLOR_RGB2GRAY)
                if grey.shape[0] != grey.shape[1]:
                    raise InputError(f"mask image {path} is not square",
                                     "masks are cut like the faces: square")
                face.masks[config.masker] = change_mask_crop(grey, config.centering,
                                                             STORED_MASK_SIZE, "head")
                count += 1
            counter.advance()
        for start in range(0, len(frames), 256):
            edit.store.add_frames(frames[start:start + 256])
    return MasksResult(config.alignments, count, [config.masker], edit.backup,
                       action="imported")


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MASK_PREVIEW)
class PreviewConfig:
    alignments: Path
    faces: Path
    output: Path
    masker: str

    def __post_init__(self) -> None:
        self.alignments, self.faces, self.output = (Path(self.alignments), Path(self.faces),
                                                    Path(self.output))


def mask_overlay(face_rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The face with everything outside the mask tinted red and the mask's edge drawn."""
    weight = (mask.astype(np.float32) / 255.0)[..., None]
    red = np.zeros_like(face_rgb)
    red[..., 0] = 255
    out = face_rgb * weight + (0.5 * face_rgb + 0.5 * red) * (1.0 - weight)
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours((mask > 127).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), max(1, face_rgb.shape[0] // 256))
    return out


def preview(config: PreviewConfig, on_event: EventSink | None = None,
            stop: threading.Event | None = None) -> MaskImagesResult:
    """Each face of a faces folder with its stored mask drawn over it (JPEG, same name)."""
    output = ensure_writable_dir(config.output)
    with AlignmentsStore.open(config.alignments, "r") as store:
        name = source_name(store.meta())
        masks = {(frame.index, face.face_index): face.masks.get(config.masker)
                 for frame in store.iter_frames() for face in frame.faces}
    faces = [f for f in read_faces_folder(config.faces) if f.belongs_to(name) and f.meta]
    result = MaskImagesResult(output, 0)
    with interruptible("tools mask preview", "the previews written so far are complete"):
        counter = Counter(len(faces), "face", on_event, stop, "tools mask preview")
        for face in faces:
            counter.check_stop("the previews written so far are complete")
            mask = masks.get(face.key)
            if mask is None:
                result.missing += 1
            else:
                image, meta = read_face_png(face.path)
                fitted = change_mask_crop(mask, "head", image.shape[0], meta["centering"])
                _write_grey(output / f"{face.path.stem}.jpg", mask_overlay(image, fitted))
                result.written += 1
            counter.advance()
    return result
