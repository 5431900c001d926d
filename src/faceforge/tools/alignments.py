"""`tools alignments ...`: look into, curate, re-cut, draw, merge and rename around a store.

Smoothing has its own module (`faceforge.tools.smooth`). Every tool that changes a store works
on a copy that replaces the file whole after a backup (`faceforge.tools.stores`).

Why one file of about 650 lines: it holds the thirteen `tools alignments` commands, each a
config and a short function (the CLI group, one module), sharing the store and face-folder
helpers above them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge import __version__
from faceforge.core import geometry
from faceforge.core.image import warp_face
from faceforge.errors import InputError, OutputError, UsageError
from faceforge.events import EventSink, Note, ignore
from faceforge.formats.alignments import AlignmentsStore, FaceRecord, FrameRecord
from faceforge.formats.face_png import face_filename, make_face_meta, write_face_png
from faceforge.io.files import (
    atomic_copy,
    atomic_output,
    atomic_write,
    ensure_writable_dir,
    remove_stale_temporaries,
)
from faceforge.options import option_defaults
from faceforge.options import tools as opts
from faceforge.tools import renames
from faceforge.tools.face_folder import read_faces_folder
from faceforge.tools.progress import Counter, interruptible
from faceforge.tools.stores import edited_store, open_store_source, source_name

log = logging.getLogger(__name__)

_STORE_KEPT = "the store is as it was"


def _path(value: Any) -> Path | None:
    return None if value is None or value == "" else Path(value)


# --------------------------------------------------------------------------------------
# summary, export, import


@dataclass
@option_defaults(opts.ALIGNMENTS_SUMMARY)
class SummaryConfig:
    alignments: Path
    list: bool


@dataclass
class SummaryResult:
    counts: dict[str, int]
    meta: dict[str, Any]
    frames_without_faces: list[int] | None = None
    frames_with_several_faces: list[int] | None = None

    def lines(self) -> list[str]:
        out = [f"{key.replace('_', ' ')}: {value}" for key, value in self.counts.items()]
        out += [f"{key.replace('_', ' ')}: {value}" for key, value in self.meta.items()]
        for label, frames in (("frames without faces:", self.frames_without_faces),
                              ("frames with several faces:", self.frames_with_several_faces)):
            if frames is not None:
                out.append(f"{label} {' '.join(map(str, frames)) or 'none'}")
        return out


def summary(config: SummaryConfig, on_event: EventSink | None = None,
            stop: threading.Event | None = None) -> SummaryResult:
    """Frames, faces, frames with none or several faces, and what made the store."""
    with AlignmentsStore.open(config.alignments, "r") as store:
        counts = store.summary()
        meta = store.meta()
        result = SummaryResult(
            {key: counts[key] for key in ("frames", "faces", "frames_without_faces",
                                          "frames_with_multiple_faces")},
            {key: meta[key] for key in ("source_path", "frame_count", "status", "plugins",
                                        "tool_version") if key in meta})
        if config.list:
            frames = [(frame.index, len(frame.faces)) for frame in store.iter_frames()]
            result.frames_without_faces = [index for index, n in frames if n == 0]
            result.frames_with_several_faces = [index for index, n in frames if n > 1]
    return result


@dataclass
class WroteResult:
    path: Path

    def lines(self) -> list[str]:
        return [f"wrote {self.path}"]


@dataclass
@option_defaults(opts.ALIGNMENTS_EXPORT)
class ExportConfig:
    alignments: Path
    json: Path
    format: str | None


def export_alignments(config: ExportConfig, on_event: EventSink | None = None,
                      stop: threading.Event | None = None) -> WroteResult:
    """The whole store as one JSON document, or as a Faceswap `.fsa` file (written
    atomically)."""
    as_fsa = (config.format or ("fsa" if str(config.json).lower().endswith(".fsa")
                                else "json")) == "fsa"
    remove_stale_temporaries(Path(config.json).parent)  # what a killed export left
    with AlignmentsStore.open(config.alignments, "r") as store:
        if as_fsa:
            store.export_fsa(config.json)
        else:
            store.export_json(config.json)
    return WroteResult(Path(config.json))


@dataclass
@option_defaults(opts.ALIGNMENTS_IMPORT)
class ImportConfig:
    json: Path
    alignments: Path
    source: Path | None


def import_alignments(config: ImportConfig, on_event: EventSink | None = None,
                      stop: threading.Event | None = None) -> WroteResult:
    """A new store (which must not exist yet) from a JSON export or a Faceswap `.fsa` file."""
    if str(config.json).lower().endswith(".fsa"):
        AlignmentsStore.import_fsa(config.json, config.alignments, _path(config.source)).close()
    else:
        AlignmentsStore.import_json(config.json, config.alignments).close()
    return WroteResult(Path(config.alignments))


@dataclass
@option_defaults(opts.ALIGNMENTS_IMPORT_FACES)
class ImportFacesConfig:
    faces: Path
    alignments: Path
    source: Path | None


def import_faces(config: ImportFacesConfig, on_event: EventSink | None = None,
                 stop: threading.Event | None = None) -> WroteResult:
    """A new store rebuilt from the metadata of a folder of face PNGs of either tool."""
    from faceforge.formats.face_folder import faces_to_store

    faces_to_store(config.faces, config.alignments, _path(config.source))
    return WroteResult(Path(config.alignments))


# --------------------------------------------------------------------------------------
# missing-frames, multi-faces, no-faces


@dataclass
@option_defaults(opts.ALIGNMENTS_NO_FACES)
class FrameListConfig:
    alignments: Path
    source: Path | None
    output: Path | None
    faces: Path | None

    def __post_init__(self) -> None:
        self.alignments = Path(self.alignments)
        self.source, self.output, self.faces = (_path(self.source), _path(self.output),
                                                _path(self.faces))
        if self.faces is not None and self.output is None:
            raise UsageError("--faces picks what -o copies", "add -o FOLDER")


@dataclass
class FrameListResult:
    what: str
    frames: list[int]
    names: list[str]
    copied: int = 0
    output: Path | None = None

    def lines(self) -> list[str]:
        out = [f"{len(self.frames)} {self.what}: {' '.join(map(str, self.frames)) or 'none'}"]
        if self.output is not None:
            out.append(f"copied {self.copied} files to {self.output}")
        return out


def missing_frames(config: FrameListConfig, on_event: EventSink | None = None,
                   stop: threading.Event | None = None) -> FrameListResult:
    """Frames the extraction should have reached (every Nth, as it was run) that the store
    does not hold: an interrupted or failed run. Copies come from the source."""
    with AlignmentsStore.open(config.alignments, "r") as store:
        meta = store.meta()
        done = store.done_frame_indices()
    total = meta.get("frame_count")
    if total is None:
        with open_store_source(meta, config.alignments, config.source) as source:
            total = source.info.frame_count
    every_n = int((meta.get("settings") or {}).get("extract_every_n") or 1)
    frames = [index for index in range(0, int(total), every_n) if index not in done]
    return _list_or_copy(config, meta, frames, {}, "frames missing from the store",
                         on_event, stop)


def multi_faces(config: FrameListConfig, on_event: EventSink | None = None,
                stop: threading.Event | None = None) -> FrameListResult:
    """Frames with more than one face: often a wrong detection, or someone else in shot."""
    return _frames_where(config, lambda n: n > 1, "frames with several faces", on_event, stop)


def no_faces(config: FrameListConfig, on_event: EventSink | None = None,
             stop: threading.Event | None = None) -> FrameListResult:
    """Frames processed where no face was found."""
    return _frames_where(config, lambda n: n == 0, "frames without faces", on_event, stop)


def _frames_where(config: FrameListConfig, wanted: Any, what: str, on_event: EventSink | None,
                  stop: threading.Event | None) -> FrameListResult:
    with AlignmentsStore.open(config.alignments, "r") as store:
        meta = store.meta()
        records = {frame.index: frame.name for frame in store.iter_frames()
                   if wanted(len(frame.faces))}
    return _list_or_copy(config, meta, sorted(records), records, what, on_event, stop)


def _list_or_copy(config: FrameListConfig, meta: dict[str, Any], frames: list[int],
                  names: dict[int, str], what: str, on_event: EventSink | None,
                  stop: threading.Event | None) -> FrameListResult:
    result = FrameListResult(what, frames, [names.get(i, "") for i in frames])
    if config.output is None or not frames:
        return result
    output = ensure_writable_dir(config.output)
    result.output = output
    wanted = set(frames)
    with interruptible(f"copying the {what}", "the files copied so far are complete"):
        if config.faces is not None:
            faces = [f for f in read_faces_folder(config.faces)
                     if f.belongs_to(source_name(meta)) and f.frame_index in wanted]
            counter = Counter(len(faces), "face", on_event, stop, f"copying the {what}")
            for face in faces:
                counter.check_stop("the faces copied so far are complete")
                atomic_copy(face.path, output / face.path.name, durable=False)
                counter.advance()
            result.copied = len(faces)
            return result
        with open_store_source(meta, config.alignments, config.source) as source:
            skip = set(range(source.info.frame_count)) - wanted
            counter = Counter(len(frames), "frame", on_event, stop, f"copying the {what}")
            for frame in source.iter_frames(skip=skip):
                counter.check_stop("the frames copied so far are complete")
                _write_image(output / f"{Path(frame.name).stem}.png", frame.image)
                counter.advance()
                result.copied += 1
    return result


def _write_image(path: Path, image_rgb: np.ndarray, quality: int = 95) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() == ".jpg" else \
        [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OutputError(f"could not encode {path}")
    atomic_write(path, data.tobytes(), durable=False)


# --------------------------------------------------------------------------------------
# remove-faces


@dataclass
@option_defaults(opts.ALIGNMENTS_REMOVE_FACES)
class RemoveFacesConfig:
    alignments: Path
    faces: Path

    def __post_init__(self) -> None:
        self.alignments, self.faces = Path(self.alignments), Path(self.faces)


@dataclass
class RemoveFacesResult:
    alignments: Path
    backup: Path | None
    faces_before: int
    faces_removed: int
    images_of_other_sources: int
    images_not_in_store: int

    def lines(self) -> list[str]:
        out = [f"removed {self.faces_removed} of {self.faces_before} faces from "
               f"{self.alignments} (its images are gone from the faces folder)"]
        if self.backup is not None:
            out.append(f"the store as it was: {self.backup}")
        if self.images_not_in_store:
            out.append(f"{self.images_not_in_store} images of this source have no face in "
                       "the store (left as they are)")
        if self.images_of_other_sources:
            out.append(f"{self.images_of_other_sources} images in the folder are of other "
                       "sources (ignored)")
        return out


def remove_faces(config: RemoveFacesConfig, on_event: EventSink | None = None,
                 stop: threading.Event | None = None) -> RemoveFacesResult:
    """Bring the store in line with a curated faces folder: faces whose image was deleted are
    removed. The store is backed up first and replaced whole, so a stop or kill at any moment
    leaves it as it was or finished."""
    emit = on_event or ignore
    with AlignmentsStore.open(config.alignments, "r") as store:
        meta = store.meta()
        stored = {(frame.index, face.face_index) for frame in store.iter_frames()
                  for face in frame.faces}
    name = source_name(meta)
    files = read_faces_folder(config.faces)
    mine = [f for f in files if f.belongs_to(name) and f.key is not None]
    if not mine:
        raise UsageError(
            f"no face image in {config.faces} comes from {name or 'the source of the store'}",
            "pass the faces folder extracted with this store; nothing was removed")
    keep = {f.key for f in mine}
    doomed = stored - keep
    result = RemoveFacesResult(config.alignments, None, len(stored), len(doomed),
                               len(files) - len(mine), len(keep - stored))
    if not doomed:
        emit(Note(f"every face of {config.alignments} still has its image: nothing to do"))
        return result
    with interruptible("tools alignments remove-faces", _STORE_KEPT), \
            edited_store(config.alignments) as edit:
        removed = edit.store.remove_faces(sorted(doomed))
        edit.store.set_meta("curated_from", str(config.faces.resolve()))
    result.backup = edit.backup
    result.faces_removed = removed
    return result


# --------------------------------------------------------------------------------------
# extract: face images from the store, without detection


@dataclass
@option_defaults(opts.ALIGNMENTS_EXTRACT)
class ExtractFacesConfig:
    alignments: Path
    output: Path
    source: Path | None
    size: int
    centering: str
    extract_every_n: int
    skip_existing: bool
    png_compression: int

    def __post_init__(self) -> None:
        self.alignments, self.output = Path(self.alignments), Path(self.output)
        self.source = _path(self.source)
        if not 16 <= self.size <= 4096:
            raise UsageError(f"--size {self.size} is out of range", "use 64 to 4096 pixels")
        if not 0 <= self.png_compression <= 9:
            raise UsageError("--png-compression must be between 0 and 9")


@dataclass
class FacesWrittenResult:
    output: Path
    faces_written: int
    faces_skipped: int = 0

    def lines(self) -> list[str]:
        extra = f" ({self.faces_skipped} were there already)" if self.faces_skipped else ""
        return [f"wrote {self.faces_written} faces to {self.output}{extra}"]


def extract_faces(config: ExtractFacesConfig, on_event: EventSink | None = None,
                  stop: threading.Event | None = None) -> FacesWrittenResult:
    """Cut the store's faces out of the source again at another size or centering: the
    landmarks and alignment are the store's, nothing is detected."""
    output = ensure_writable_dir(config.output)
    with AlignmentsStore.open(config.alignments, "r") as store:
        meta = store.meta()
        frames = {frame.index: frame for frame in store.iter_frames()
                  if frame.faces and frame.index % config.extract_every_n == 0}
    result = FacesWrittenResult(output, 0)
    with open_store_source(meta, config.alignments, config.source) as source, \
            interruptible("tools alignments extract", "the faces written so far are complete"):
        stem = source.info.stem
        wanted = set(frames)
        for index in list(wanted):
            names = [face_filename(stem, index, f.face_index) for f in frames[index].faces]
            there = [n for n in names if (output / n).exists()]
            if there and not config.skip_existing:
                # Never written over: they may be the faces extraction made (other size,
                # other centering) or a curated set.
                raise OutputError(f"{output} already holds face images of this store "
                                  f"({there[0]}, ...)",
                                  "choose an empty folder, or -s to keep those and write the "
                                  "rest")
            if there and len(there) == len(names):
                wanted.discard(index)
                result.faces_skipped += len(names)
        counter = Counter(len(wanted), "frame", on_event, stop, "tools alignments extract")
        skip = set(range(source.info.frame_count)) - wanted
        for frame in source.iter_frames(skip=skip):
            counter.check_stop("the faces written so far are complete")
            record = frames[frame.index]
            for face in record.faces:
                matrix = geometry.aligned_matrix(face.matrix, config.size, config.centering)
                aligned = warp_face(frame.image, matrix, config.size)
                face_meta = make_face_meta(
                    source=source.info.path.name, frame_index=frame.index,
                    frame_name=frame.name, face_index=face.face_index,
                    source_size=(frame.image.shape[1], frame.image.shape[0]),
                    landmarks=np.round(face.landmarks.astype(np.float64), 3), matrix=matrix,
                    size=config.size, centering=config.centering, coverage=1.0,
                    tool_version=__version__)
                write_face_png(output / face_filename(stem, frame.index, face.face_index),
                               aligned, face_meta, compression=config.png_compression,
                               durable=False)
                result.faces_written += 1
            counter.advance(faces=len(record.faces))
    return result


# --------------------------------------------------------------------------------------
# draw


@dataclass
@option_defaults(opts.ALIGNMENTS_DRAW)
class DrawConfig:
    alignments: Path
    output: Path
    source: Path | None
    frames: tuple[int, int] | None
    every_n: int
    image_format: str

    def __post_init__(self) -> None:
        self.alignments, self.output = Path(self.alignments), Path(self.output)
        self.source = _path(self.source)


@dataclass
class FramesWrittenResult:
    output: Path
    frames_written: int

    def lines(self) -> list[str]:
        return [f"wrote {self.frames_written} frames to {self.output}"]


# Colours (RGB) of the drawing: box, jaw and brows, eyes, nose, mouth.
_BOX = (255, 64, 64)
_PART_COLOURS = ((range(0, 27), (64, 255, 64)), (range(27, 36), (255, 255, 64)),
                 (range(36, 48), (64, 200, 255)), (range(48, 68), (255, 128, 255)))


def draw_faces(image: np.ndarray, faces: list[FaceRecord]) -> np.ndarray:
    """A copy of the frame with each face's box, index and 68 landmarks drawn."""
    out = image.copy()
    scale = max(1, round(max(image.shape[:2]) / 640))
    for face in faces:
        left, top, right, bottom = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (left, top), (right, bottom), _BOX, scale, cv2.LINE_AA)
        cv2.putText(out, str(face.face_index), (left, max(12, top - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, _BOX, scale, cv2.LINE_AA)
        for part, colour in _PART_COLOURS:
            for x, y in np.round(face.landmarks[list(part)]).astype(int):
                cv2.circle(out, (int(x), int(y)), scale, colour, -1, cv2.LINE_AA)
    return out


def draw(config: DrawConfig, on_event: EventSink | None = None,
         stop: threading.Event | None = None) -> FramesWrittenResult:
    """Frames with the store's boxes and landmarks drawn on them, to check an extraction."""
    output = ensure_writable_dir(config.output)
    with AlignmentsStore.open(config.alignments, "r") as store:
        meta = store.meta()
        records = {frame.index: frame for frame in store.iter_frames()}
    first, last = config.frames if config.frames else (0, max(records, default=0))
    wanted = {i for i in records if first <= i <= last and (i - first) % config.every_n == 0}
    written = 0
    with open_store_source(meta, config.alignments, config.source) as source, \
            interruptible("tools alignments draw", "the frames written so far are complete"):
        counter = Counter(len(wanted), "frame", on_event, stop, "tools alignments draw")
        skip = set(range(source.info.frame_count)) - wanted
        for frame in source.iter_frames(skip=skip):
            counter.check_stop("the frames written so far are complete")
            drawn = draw_faces(frame.image, records[frame.index].faces)
            _write_image(output / f"{Path(frame.name).stem}.{config.image_format}", drawn)
            written += 1
            counter.advance()
    return FramesWrittenResult(output, written)


# --------------------------------------------------------------------------------------
# merge


@dataclass
@option_defaults(opts.ALIGNMENTS_MERGE)
class MergeConfig:
    alignments: Path
    other: Path
    output: Path

    def __post_init__(self) -> None:
        self.alignments, self.other, self.output = (Path(self.alignments), Path(self.other),
                                                    Path(self.output))


@dataclass
class MergeResult:
    output: Path
    frames: int
    faces: int
    faces_added: int
    faces_duplicated: int

    def lines(self) -> list[str]:
        return [f"wrote {self.output}: {self.frames} frames, {self.faces} faces "
                f"({self.faces_added} from the second store, {self.faces_duplicated} of its "
                "faces were already in the first)"]


def box_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


_SAME_FACE_OVERLAP = 0.5


def merge_frames(first: FrameRecord | None, second: FrameRecord | None) -> tuple[FrameRecord,
                                                                                   int, int]:
    """One frame from both stores: the first's faces, then the second's that overlap none of
    them (new indices after the first's). Returns the frame, faces added and duplicates."""
    if first is None:
        assert second is not None
        return second, len(second.faces), 0
    if second is None:
        return first, 0, 0
    faces = list(first.faces)
    next_index = max((f.face_index for f in faces), default=-1) + 1
    added = duplicated = 0
    for face in second.faces:
        if any(box_overlap(face.box, kept.box) >= _SAME_FACE_OVERLAP for kept in first.faces):
            duplicated += 1
            continue
        faces.append(dataclasses.replace(face, face_index=next_index))
        next_index += 1
        added += 1
    return FrameRecord(first.index, first.name, first.width, first.height, first.timestamp_s,
                       faces), added, duplicated


def merge(config: MergeConfig, on_event: EventSink | None = None,
          stop: threading.Event | None = None) -> MergeResult:
    """Two stores of one source as one new store. Faces the two share (boxes overlapping by
    half or more) are kept once, as the first store has them."""
    if config.output.exists():
        raise OutputError(f"{config.output} already exists", "choose a new file for -o")
    with AlignmentsStore.open(config.alignments, "r") as one, \
            AlignmentsStore.open(config.other, "r") as two:
        meta_one, meta_two = one.meta(), two.meta()
        _check_same_source(config, meta_one, meta_two)
        frames_one = {frame.index: frame for frame in one.iter_frames()}
        frames_two = {frame.index: frame for frame in two.iter_frames()}
    indices = sorted(set(frames_one) | set(frames_two))
    merged, added, duplicated = [], 0, 0
    for index in indices:
        frame, more, same = merge_frames(frames_one.get(index), frames_two.get(index))
        merged.append(frame)
        added += more
        duplicated += same
    remove_stale_temporaries(config.output.parent)
    with interruptible("tools alignments merge", "no merged store was written"), \
            atomic_output(config.output) as temp:
        store = AlignmentsStore.open(temp, "a")
        try:
            store.update_meta({**meta_one, "merged_from": [str(config.alignments),
                                                           str(config.other)]})
            counter = Counter(len(merged), "frame", on_event, stop, "tools alignments merge")
            for start in range(0, len(merged), 256):
                counter.check_stop("no merged store was written")
                store.add_frames(merged[start:start + 256])
                counter.advance(len(merged[start:start + 256]))
        finally:
            store.close()
    faces = sum(len(frame.faces) for frame in merged)
    return MergeResult(config.output, len(merged), faces, added, duplicated)


def _check_same_source(config: MergeConfig, one: dict[str, Any], two: dict[str, Any]) -> None:
    fingerprints = (one.get("source_fingerprint"), two.get("source_fingerprint"))
    if None not in fingerprints and fingerprints[0] != fingerprints[1]:
        raise InputError(f"{config.alignments} and {config.other} were made from different "
                         "sources", "merge only stores of the same video or image folder")
    counts = (one.get("frame_count"), two.get("frame_count"))
    if None not in counts and counts[0] != counts[1]:
        raise InputError(f"{config.alignments} and {config.other} have different frame "
                         f"counts ({counts[0]} and {counts[1]})",
                         "merge only stores of the same video or image folder")


# --------------------------------------------------------------------------------------
# rename


@dataclass
@option_defaults(opts.ALIGNMENTS_RENAME)
class RenameConfig:
    faces: Path
    undo: bool

    def __post_init__(self) -> None:
        self.faces = Path(self.faces)


@dataclass
class RenameResult:
    folder: Path
    renamed: int
    unreadable: int = 0
    undone: bool = False

    def lines(self) -> list[str]:
        if self.undone:
            return [f"put back {self.renamed} names in {self.folder}"]
        out = [f"renamed {self.renamed} faces in {self.folder} to their store names "
               "(undo with --undo)"]
        if self.unreadable:
            out.append(f"{self.unreadable} images carry no face metadata (left as they are)")
        return out


def rename(config: RenameConfig, on_event: EventSink | None = None,
           stop: threading.Event | None = None) -> RenameResult:
    """Give every face image of a folder the name extraction gave it, from its metadata."""
    if config.undo:
        return RenameResult(config.faces, renames.undo(config.faces, on_event), undone=True)
    renames.recover(config.faces, on_event)
    moves, unreadable, taken = [], 0, set()
    for face in read_faces_folder(config.faces):
        name = face.store_name() if face.meta is not None else None
        if name is None:
            unreadable += 1
            continue
        if name in taken:
            raise UsageError(f"two images in {config.faces} are the same face ({name})",
                             "remove the copy, then rename again")
        taken.add(name)
        moves.append(renames.Move(face.path, face.path.with_name(name)))
    count = renames.apply_moves(config.faces, "tools alignments rename", moves,
                                on_event=on_event, stop=stop)
    return RenameResult(config.faces, count, unreadable)


__all__ = [
    "DrawConfig", "ExportConfig", "ExtractFacesConfig", "FrameListConfig", "ImportConfig",
    "ImportFacesConfig", "MergeConfig", "RemoveFacesConfig", "RenameConfig", "SummaryConfig",
    "draw", "draw_faces", "export_alignments", "extract_faces", "import_alignments",
    "import_faces", "merge", "missing_frames", "multi_faces", "no_faces", "remove_faces",
    "rename", "summary",
]
