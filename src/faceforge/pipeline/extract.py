"""`extract`: find every face in a video or image folder, align, mask and save it, resumably.

Three stages overlap: a decoder thread reads frames; the calling thread detects faces and
landmarks; a writer thread cuts out aligned faces, draws masks and writes PNGs. The alignments
store is committed by the calling thread only after a batch's PNGs are on disk, so a killed run
loses at most the batches in flight and a rerun redoes exactly those frames.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from faceforge import __version__
from faceforge.core import geometry
from faceforge.core.image import warp_face
from faceforge.core.masks import landmark_mask
from faceforge.errors import Interrupted, UsageError
from faceforge.events import EventSink, Progress, ignore
from faceforge.formats.alignments import (
    AlignmentsStore,
    FaceRecord,
    FrameRecord,
    default_alignments_path,
)
from faceforge.formats.face_png import face_filename, make_face_meta, write_face_png
from faceforge.io import (
    Frame,
    FrameSource,
    SourceInfo,
    list_batch_inputs,
    open_source,
    source_fingerprint,
)
from faceforge.io.background import background_frames
from faceforge.io.files import backup_path, ensure_writable_dir, remove_stale_temporaries
from faceforge.options import EXTRACT_OPTIONS, option_defaults
from faceforge.pipeline.faces import FaceFinder, FaceFinderConfig, FoundFace

log = logging.getLogger(__name__)

MASK_SIZE = 128  # stored masks are drawn at this size in the saved faces' (head) space
THUMBNAIL_SIZE = 80
BATCH_FRAMES = 16


@dataclass(kw_only=True)
@option_defaults(EXTRACT_OPTIONS)
class ExtractConfig(FaceFinderConfig):
    """Every `extract` option (defaults from faceforge.options.extract): those that decide
    which faces are found (`FaceFinderConfig`) and these."""

    input: Path
    output: Path
    alignments: Path | None
    batch_mode: bool
    masker: list[str]
    size: int
    centering: str
    extract_every_n: int
    save_interval: int
    skip_existing: bool
    skip_existing_faces: bool
    debug_landmarks: bool
    png_compression: int

    def __post_init__(self) -> None:
        self.input = Path(self.input)
        self.output = Path(self.output)
        if self.alignments is not None:
            self.alignments = Path(self.alignments)
        self.masker = [m for m in (self.masker or []) if m != "none"]
        if not 16 <= self.size <= 4096:
            raise UsageError(f"--size {self.size} is out of range", "use 64 to 4096 pixels")
        if self.extract_every_n < 1:
            raise UsageError("--extract-every-n must be 1 or more")
        if not 0 <= self.png_compression <= 9:
            raise UsageError("--png-compression must be between 0 and 9")
        super().__post_init__()

    def finder_config(self) -> FaceFinderConfig:
        """The face finder's part; reference photos need the identity descriptors."""
        values = {item.name: getattr(self, item.name) for item in fields(FaceFinderConfig)}
        values["identity"] = self.identity or bool(self.filter or self.nfilter)
        return FaceFinderConfig(**values)

    def settings(self) -> dict:
        """What decides the content of the store and faces: a resumed run must match these."""
        keys = ("detector", "aligner", "masker", "normalization", "re_feed", "rotate", "identity",
                "min_size", "max_size", "landmark_threshold", "ref_threshold", "size",
                "centering", "extract_every_n", "debug_landmarks")
        values = asdict(self)
        out = {k: values[k] for k in keys}
        out["rotate"] = list(self.rotate) if self.rotate else None
        out["filter"] = sorted(self.filter or [])
        out["nfilter"] = sorted(self.nfilter or [])
        return out


@dataclass
class ExtractResult:
    source: Path
    alignments: Path
    output: Path
    frames_total: int
    frames_processed: int
    frames_skipped: int
    faces_written: int
    frames_with_faces: int
    elapsed_s: float

    @property
    def frames_per_s(self) -> float:
        return self.frames_processed / self.elapsed_s if self.elapsed_s > 0 else 0.0


def extract_all(
    config: ExtractConfig,
    on_event: EventSink | None = None,
    stop: threading.Event | None = None,
) -> list[ExtractResult]:
    """The `extract` job: one input, or with `batch_mode` each input of a folder into its own
    subfolder of config.output (its store next to it). Raises FaceforgeError subclasses."""
    if not config.batch_mode:
        return [extract(config, on_event, stop)]
    results = []
    for path in list_batch_inputs(config.input):
        one = dataclasses.replace(config, input=path, alignments=None, batch_mode=False,
                                  output=config.output / Path(path).stem)
        log.info("extracting %s", path)
        results.append(extract(one, on_event, stop))
    return results


def extract(
    config: ExtractConfig,
    on_event: EventSink | None = None,
    stop: threading.Event | None = None,
) -> ExtractResult:
    """Run one extraction (a single video or image folder). Raises FaceforgeError subclasses."""
    source = open_source(config.input)
    try:
        return _extract_source(config, source, on_event or ignore, stop)
    finally:
        source.close()


# --------------------------------------------------------------------------------------
# Store handling: create, resume, or refuse.


def _open_store(config: ExtractConfig, info: SourceInfo, fingerprint: str) -> AlignmentsStore:
    path = config.alignments or default_alignments_path(config.input)
    settings = config.settings()
    remove_stale_temporaries(path.parent)
    if path.exists():
        # Everything that can refuse the file is checked on a read-only opening first: a
        # refused file (another source's, or damaged) is left byte for byte as it was.
        with AlignmentsStore.open(path, "r") as reader:
            meta = reader.meta()
            frames_done = reader.frame_count()
        if meta.get("source_fingerprint") not in (None, fingerprint):
            raise UsageError(
                f"alignments file {path} belongs to another source "
                f"({meta.get('source_path', 'unknown')})",
                "pass a different -p/--alignments for this input",
            )
        unfinished = meta.get("status") != "complete"
        if unfinished and frames_done and meta.get("settings") != settings:
            changed = _changed_settings(meta.get("settings") or {}, settings)
            raise UsageError(
                f"alignments file {path} holds an unfinished extraction made with other "
                f"options ({changed})",
                "rerun with the same options to resume it, or delete the file to start over",
            )
        if not unfinished and not (config.skip_existing or config.skip_existing_faces):
            backup = backup_path(path)
            shutil.move(str(path), backup)
            log.info("an earlier extraction's alignments were moved to %s", backup)
            store = AlignmentsStore.open(path, "a")
        else:
            store = AlignmentsStore.open(path, "r+")
    else:
        store = AlignmentsStore.open(path, "a")
    store.update_meta({
        "tool": "faceforge",
        "tool_version": __version__,
        "source_path": str(config.input.resolve()),
        "source_fingerprint": fingerprint,
        "source_kind": info.kind,
        "frame_count": info.frame_count,
        "fps": info.fps,
        "frame_size": [info.width, info.height],
        "settings": settings,
        "plugins": {"detector": config.detector, "aligner": config.aligner,
                    "masks": config.masker},
        "face_size": config.size,
        "face_centering": config.centering,
        "status": "running",
    })
    return store


def _changed_settings(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys[:3])


def _frames_to_skip(store: AlignmentsStore, config: ExtractConfig, resuming: bool) -> set[int]:
    if config.skip_existing_faces and not config.skip_existing and not resuming:
        return {f.index for f in store.iter_frames() if f.faces}
    return store.done_frame_indices()


# --------------------------------------------------------------------------------------
# The pipeline.


def _extract_source(
    config: ExtractConfig,
    source: FrameSource,
    emit: EventSink,
    stop: threading.Event | None,
) -> ExtractResult:
    info = source.info
    output = ensure_writable_dir(config.output)
    remove_stale_temporaries(output)  # face images a killed run was writing
    finder = FaceFinder(config.finder_config())  # loads models before we touch the store
    store = _open_store(config, info, source_fingerprint(config.input))
    started = time.perf_counter()
    try:
        done_before = store.frame_count()
        skip = _frames_to_skip(store, config, resuming=done_before > 0)
        wanted = len(range(0, info.frame_count, config.extract_every_n))
        already = sum(1 for i in skip if i % config.extract_every_n == 0)
        if already:
            log.info("resuming: %d of %d frames already extracted", already, wanted)
        counts = _run(config, source, store, finder, output, skip, wanted, already, emit, stop)
        store.set_meta("status", "complete")
        summary = store.summary()
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    result = ExtractResult(
        source=config.input,
        alignments=store.path,
        output=output,
        frames_total=info.frame_count,
        frames_processed=counts["frames"],
        frames_skipped=already,
        faces_written=counts["faces"],
        frames_with_faces=summary["frames"] - summary["frames_without_faces"],
        elapsed_s=elapsed,
    )
    return result


def _run(
    config: ExtractConfig,
    source: FrameSource,
    store: AlignmentsStore,
    finder: FaceFinder,
    output: Path,
    skip: set[int],
    wanted: int,
    already: int,
    emit: EventSink,
    stop: threading.Event | None,
) -> dict[str, int]:
    commit_every = config.save_interval or BATCH_FRAMES
    halt = threading.Event()
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceforge-write")
    pending: deque[Future] = deque()
    counts = {"frames": 0, "faces": 0}
    started = time.perf_counter()
    stem = source.info.stem

    def commit_ready(block: bool) -> None:
        while pending and (block or pending[0].done()):
            records: list[FrameRecord] = pending.popleft().result()
            store.add_frames(records)
            counts["frames"] += len(records)
            counts["faces"] += sum(len(r.faces) for r in records)
            elapsed = time.perf_counter() - started
            rate = counts["frames"] / elapsed if elapsed > 0 else 0.0
            left = wanted - already - counts["frames"]
            emit(Progress(already + counts["frames"], wanted, "frame", rate,
                          left / rate if rate > 0 else None, {"faces": counts["faces"]}))

    def find_and_write(frames: list[Frame]) -> None:
        # One finder call per batch, so the detector sees all of its frames at once.
        found = finder.find_batch([frame.image for frame in frames])
        batch = list(zip(frames, found, strict=True))
        pending.append(writer.submit(_write_batch, batch, config, output, stem))

    emit(Progress(already, wanted, "frame", 0.0, None, {"faces": 0}))
    frames: list[Frame] = []
    try:
        for frame in background_frames(source, halt, skip, config.extract_every_n,
                                      buffer=2 * BATCH_FRAMES):
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            frames.append(frame)
            if len(frames) >= commit_every:
                find_and_write(frames)
                frames = []
                # Bound the work in flight so a kill loses little and memory stays flat.
                commit_ready(block=len(pending) > 2)
        if frames:
            find_and_write(frames)
            frames = []
        commit_ready(block=True)
    except KeyboardInterrupt:
        halt.set()
        # Keep what is already on disk: finish and commit the batches handed to the writer.
        try:
            commit_ready(block=True)
        finally:
            writer.shutdown(wait=True)
        raise Interrupted(
            f"extraction of {config.input} stopped after {already + counts['frames']} of "
            f"{wanted} frames",
            "run the same command again to resume",
        ) from None
    except BaseException:
        halt.set()
        # Commit batches that were written completely, then report the error.
        try:
            while pending:
                future = pending.popleft()
                if future.exception() is None:
                    store.add_frames(future.result())
        finally:
            writer.shutdown(wait=True, cancel_futures=True)
        raise
    writer.shutdown(wait=True)
    return counts


# --------------------------------------------------------------------------------------
# The writer stage: aligned faces, masks, thumbnails, PNGs.


def _write_batch(
    batch: list[tuple[Frame, list[FoundFace]]], config: ExtractConfig, output: Path, stem: str
) -> list[FrameRecord]:
    records = []
    for frame, found in batch:
        height, width = frame.image.shape[:2]
        faces = []
        for face_index, face in enumerate(found):
            faces.append(_write_face(frame, face, face_index, config, output, stem))
        records.append(FrameRecord(index=frame.index, name=frame.name, width=width,
                                   height=height, timestamp_s=frame.timestamp_s, faces=faces))
    return records


def _write_face(
    frame: Frame, face: FoundFace, face_index: int, config: ExtractConfig, output: Path,
    stem: str,
) -> FaceRecord:
    legacy = geometry.legacy_matrix(face.landmarks)
    matrix = geometry.aligned_matrix(legacy, config.size, config.centering)
    aligned = warp_face(frame.image, matrix, config.size)
    if config.debug_landmarks:
        aligned = _draw_landmarks(aligned, geometry.transform_points(face.landmarks, matrix))
    mask_matrix = geometry.aligned_matrix(legacy, MASK_SIZE, "head")
    masks = {name: landmark_mask(face.landmarks, mask_matrix, MASK_SIZE, name)
             for name in config.masker}
    meta = make_face_meta(
        source=str(config.input.name),
        frame_index=frame.index,
        frame_name=frame.name,
        face_index=face_index,
        source_size=(frame.image.shape[1], frame.image.shape[0]),
        landmarks=np.round(face.landmarks.astype(np.float64), 3),
        matrix=matrix,
        size=config.size,
        centering=config.centering,
        coverage=1.0,
        tool_version=__version__,
    )
    write_face_png(output / face_filename(stem, frame.index, face_index), aligned, meta,
                   compression=config.png_compression, durable=False)
    return FaceRecord(
        face_index=face_index,
        box=tuple(float(v) for v in face.detection.box),
        score=float(face.detection.score),
        landmarks=face.landmarks.astype(np.float32),
        matrix=legacy,
        masks=masks,
        identity=face.identity,
        thumbnail=_thumbnail(frame.image, legacy),
        detector=config.detector,
        landmarker=config.aligner,
    )


def _thumbnail(image: np.ndarray, legacy: np.ndarray) -> bytes:
    small = warp_face(image, geometry.aligned_matrix(legacy, THUMBNAIL_SIZE, "face"),
                      THUMBNAIL_SIZE)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    return jpeg.tobytes() if ok else b""


def _draw_landmarks(aligned: np.ndarray, points: np.ndarray) -> np.ndarray:
    out = aligned.copy()
    radius = max(1, aligned.shape[0] // 200)
    for x, y in np.round(points).astype(int):
        cv2.circle(out, (int(x), int(y)), radius, (0, 255, 0), -1, cv2.LINE_AA)
    return out


__all__ = ["ExtractConfig", "ExtractResult", "extract", "extract_all"]
