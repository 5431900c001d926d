"""`tools alignments smooth`: landmarks smoothed over time, shot by shot, to calm the jitter
a converted video shows as a trembling face.

Faces are followed from frame to frame (nearest landmarks, within `max_jump` of the face's
size); a jump, a gap or a frame without the face ends a track, so a cut is never smoothed
across. Each track's landmarks are smoothed with `core.temporal.smooth_track`, and each face's
alignment matrix and landmark masks are recomputed from its smoothed landmarks. Measured effect:
docs/benchmarks/tools.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceforge.core import geometry
from faceforge.core.masks import MASK_TYPES, landmark_mask
from faceforge.core.temporal import jitter, smooth_track
from faceforge.errors import UsageError
from faceforge.events import EventSink
from faceforge.formats.alignments import AlignmentsStore, FrameRecord
from faceforge.options import option_defaults
from faceforge.options.tools import ALIGNMENTS_SMOOTH
from faceforge.tools.progress import Counter, interruptible
from faceforge.tools.stores import edited_store


@dataclass
@option_defaults(ALIGNMENTS_SMOOTH)
class SmoothConfig:
    alignments: Path
    output: Path | None
    sigma: float
    max_jump: float

    def __post_init__(self) -> None:
        self.alignments = Path(self.alignments)
        self.output = None if self.output in (None, "") else Path(self.output)
        if not 0 < self.sigma <= 30:
            raise UsageError(f"--sigma {self.sigma} is out of range",
                             "use a few frames, such as 1 to 4")
        if self.max_jump <= 0:
            raise UsageError("--max-jump must be positive", "use a share such as 0.25")


@dataclass
class SmoothResult:
    alignments: Path
    backup: Path | None
    tracks: int
    faces_smoothed: int
    faces_left: int  # in tracks too short to smooth
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    mean_shift_px: float = 0.0

    def lines(self) -> list[str]:
        out = [f"smoothed {self.faces_smoothed} faces in {self.tracks} tracks of "
               f"{self.alignments} ({self.faces_left} faces in tracks too short to smooth)",
               f"landmark jitter (mean second difference) {self.before.get('jitter_px', 0):.3f}"
               f" px -> {self.after.get('jitter_px', 0):.3f} px; frame-to-frame motion "
               f"{self.before.get('motion_px', 0):.3f} px -> "
               f"{self.after.get('motion_px', 0):.3f} px; landmarks moved "
               f"{self.mean_shift_px:.3f} px on average"]
        if self.backup is not None:
            out.append(f"the store as it was: {self.backup}")
        return out


@dataclass
class Track:
    """One face followed through consecutive frames: (frame index, face index) per frame."""

    keys: list[tuple[int, int]] = field(default_factory=list)


def _size(landmarks: np.ndarray) -> float:
    span = landmarks.max(axis=0) - landmarks.min(axis=0)
    return float(np.hypot(*span)) or 1.0


def follow_faces(frames: list[FrameRecord], step: int, max_jump: float) -> list[Track]:
    """Link faces of consecutive frames (`step` apart) into tracks: each face goes on with the
    nearest face of the previous frame whose landmarks moved less than `max_jump` of its size
    (nearest pairs first); anything else starts a new track."""
    tracks: list[Track] = []
    open_tracks: dict[int, tuple[Track, np.ndarray]] = {}  # previous frame's face index -> ...
    previous_index = None
    for frame in frames:
        if previous_index is None or frame.index - previous_index != step:
            open_tracks = {}
        pairs = []
        for face in frame.faces:
            for prev_face, (_track, prev_points) in open_tracks.items():
                moved = float(np.linalg.norm(face.landmarks - prev_points, axis=1).mean())
                relative = moved / _size(prev_points)
                if relative < max_jump:
                    pairs.append((relative, face.face_index, prev_face))
        taken_new, taken_old = set(), set()
        next_open: dict[int, Track] = {}
        for _distance, new, old in sorted(pairs):
            if new in taken_new or old in taken_old:
                continue
            taken_new.add(new)
            taken_old.add(old)
            track = open_tracks[old][0]
            track.keys.append((frame.index, new))
            next_open[new] = track
        for face in frame.faces:
            if face.face_index not in taken_new:
                track = Track([(frame.index, face.face_index)])
                tracks.append(track)
                next_open[face.face_index] = track
        landmarks = {face.face_index: face.landmarks.astype(np.float64) for face in frame.faces}
        open_tracks = {index: (track, landmarks[index]) for index, track in next_open.items()}
        previous_index = frame.index
    return tracks


def _weighted(values: list[tuple[dict[str, float], int]], key: str) -> float:
    pairs = [(v[key], n) for v, n in values if np.isfinite(v[key])]
    total = sum(n for _, n in pairs)
    return float(sum(v * n for v, n in pairs) / total) if total else float("nan")


def smooth_frames(frames: list[FrameRecord], step: int, sigma: float, max_jump: float,
                  ) -> tuple[dict[int, FrameRecord], SmoothResult]:
    """The frames whose faces changed (landmarks, matrix, landmark masks) and the numbers."""
    by_index = {frame.index: frame for frame in frames}
    faces = {(frame.index, face.face_index): face for frame in frames for face in frame.faces}
    tracks = follow_faces(frames, step, max_jump)
    result = SmoothResult(Path(), None, 0, 0, 0)
    before, after, shifts = [], [], []
    changed: dict[int, FrameRecord] = {}
    for track in tracks:
        if len(track.keys) < 3:
            result.faces_left += len(track.keys)
            continue
        raw = np.stack([faces[key].landmarks.astype(np.float64) for key in track.keys])
        smoothed = smooth_track(raw, sigma / step)  # sigma is in source frames
        before.append((jitter(raw), len(raw)))
        after.append((jitter(smoothed), len(raw)))
        shifts.append(float(np.linalg.norm(smoothed - raw, axis=-1).mean()) * len(raw))
        result.tracks += 1
        result.faces_smoothed += len(raw)
        for key, points in zip(track.keys, smoothed, strict=True):
            face = faces[key]
            face.landmarks = points.astype(np.float32)
            face.matrix = geometry.legacy_matrix(points)
            for name, mask in list(face.masks.items()):
                if name in MASK_TYPES:
                    size = mask.shape[0]
                    mask_matrix = geometry.aligned_matrix(face.matrix, size, "head")
                    face.masks[name] = landmark_mask(points, mask_matrix, size, name)
            changed[key[0]] = by_index[key[0]]
    for name in ("motion_px", "jitter_px"):
        result.before[name] = _weighted(before, name)
        result.after[name] = _weighted(after, name)
    result.mean_shift_px = sum(shifts) / result.faces_smoothed if result.faces_smoothed else 0.0
    return changed, result


def run(config: SmoothConfig, on_event: EventSink | None = None,
        stop: threading.Event | None = None) -> SmoothResult:
    """Smooth the store's landmarks over time (into -o, or in place after a backup)."""
    kept = "the store is as it was" if config.output is None else "nothing was written"
    with AlignmentsStore.open(config.alignments, "r") as store:
        meta = store.meta()
        frames = list(store.iter_frames())
    step = int((meta.get("settings") or {}).get("extract_every_n") or 1)
    with interruptible("tools alignments smooth", kept):
        changed, result = smooth_frames(frames, step, config.sigma, config.max_jump)
    with interruptible("tools alignments smooth", kept), \
            edited_store(config.alignments, config.output) as edit:
        ordered = [changed[index] for index in sorted(changed)]
        counter = Counter(len(ordered), "frame", on_event, stop, "tools alignments smooth")
        for start in range(0, len(ordered), 256):
            counter.check_stop(kept)
            edit.store.add_frames(ordered[start:start + 256])
            counter.advance(len(ordered[start:start + 256]))
        edit.store.set_meta("smoothed", {"sigma": config.sigma, "max_jump": config.max_jump})
    result.alignments = config.output or config.alignments
    result.backup = edit.backup
    return result
