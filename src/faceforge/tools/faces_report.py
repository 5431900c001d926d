"""`tools faces report`: contact sheets of a faces folder, the faces most unlike the rest
first and framed: another person (identity), blurred, or turned too far (pose).

The quickest way to find the faces to delete before training. The sheets are JPEGs; beside them
report.json lists every face with its measures and flags.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.errors import UsageError
from faceforge.events import EventSink
from faceforge.formats.face_png import read_face_png
from faceforge.io.files import atomic_write, ensure_writable_dir
from faceforge.options import option_defaults
from faceforge.options.tools import FACES_REPORT
from faceforge.tools.face_folder import read_faces_folder
from faceforge.tools.measures import FaceMeasures, cluster_descriptors, measure_faces
from faceforge.tools.progress import interruptible

# Frame colours (RGB) and letters of each flag, in the order they are drawn.
FLAGS = {"identity": ((230, 40, 40), "I"), "blur": ((255, 160, 0), "B"),
         "pose": ((40, 200, 255), "P")}
_BORDER = 4
_CAPTION = 16
MAX_THUMB_SIZE = 1024
MAX_SHEET_SIDE = 16384


@dataclass
@option_defaults(FACES_REPORT)
class ReportConfig:
    input: Path
    output: Path
    columns: int
    thumb_size: int
    per_sheet: int
    no_identity: bool
    identity_threshold: float
    blur_ratio: float
    max_yaw: float
    max_pitch: float

    def __post_init__(self) -> None:
        self.input, self.output = Path(self.input), Path(self.output)
        if not 32 <= self.thumb_size <= MAX_THUMB_SIZE:
            raise UsageError(f"--thumb-size {self.thumb_size} is out of range",
                             f"use 32 to {MAX_THUMB_SIZE} pixels")
        rows = -(-self.per_sheet // self.columns)
        if max(self.columns, rows) * self.thumb_size > MAX_SHEET_SIDE:
            # Checked before a sheet is allocated: it would need gigabytes.
            raise UsageError(
                f"a sheet of {self.columns} x {rows} faces of {self.thumb_size} px is more "
                f"than {MAX_SHEET_SIDE} px on a side",
                "lower --columns, --per-sheet or --thumb-size")


@dataclass
class FaceEntry:
    name: str
    flags: list[str]
    identity_distance: float | None
    blur: float
    yaw: float
    pitch: float


@dataclass
class ReportResult:
    output: Path
    faces: int
    sheets: list[Path]
    flagged: dict[str, int] = field(default_factory=dict)  # flag -> faces
    entries: list[dict[str, Any]] = field(default_factory=list)  # as report.json has them

    def lines(self) -> list[str]:
        flagged = sum(1 for e in self.entries if e["flags"])
        out = [f"{self.faces} faces, {flagged} flagged ("
               + ", ".join(f"{name}: {count}" for name, count in self.flagged.items())
               + f"); {len(self.sheets)} sheets and report.json in {self.output}"]
        out += [f"  {e['name']}: {', '.join(e['flags'])}" for e in self.entries[:20]
                if e["flags"]]
        return out


def flag_faces(measures: list[FaceMeasures], config: ReportConfig) -> list[FaceEntry]:
    """Each face's flags: farther than the threshold from the folder's main person, sharpness
    under `blur_ratio` of the median, or turned beyond the limits."""
    distances: list[float | None] = [None] * len(measures)
    if not config.no_identity and measures:
        descriptors = np.stack([m.descriptor for m in measures])
        labels = cluster_descriptors(descriptors, config.identity_threshold)
        centre = descriptors[labels == 0].mean(axis=0)
        distances = [float(d) for d in np.linalg.norm(descriptors - centre, axis=1)]
    median_blur = float(np.median([m.blur for m in measures])) if measures else 0.0
    entries = []
    for measure, distance in zip(measures, distances, strict=True):
        flags = []
        if distance is not None and distance > config.identity_threshold:
            flags.append("identity")
        if measure.blur < config.blur_ratio * median_blur:
            flags.append("blur")
        if abs(measure.yaw) > config.max_yaw or abs(measure.pitch) > config.max_pitch:
            flags.append("pose")
        entries.append(FaceEntry(measure.path.name, flags, distance, measure.blur, measure.yaw,
                                 measure.pitch))
    return entries


def _severity(entry: FaceEntry, config: ReportConfig) -> tuple[float, ...]:
    distance = (entry.identity_distance or 0.0) / config.identity_threshold
    return (-len(entry.flags), -("identity" in entry.flags), -distance)


def _tile(image: np.ndarray, entry: FaceEntry, number: int, size: int) -> np.ndarray:
    tile = np.full((size + _CAPTION, size, 3), 24, np.uint8)
    tile[:size] = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    for depth, flag in enumerate(entry.flags):
        inset = depth * _BORDER + _BORDER // 2
        cv2.rectangle(tile, (inset, inset), (size - 1 - inset, size - 1 - inset),
                      FLAGS[flag][0], _BORDER)
    letters = "".join(FLAGS[f][1] for f in entry.flags)
    cv2.putText(tile, f"{number} {letters}", (3, size + _CAPTION - 4),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (230, 230, 230), 1, cv2.LINE_AA)
    return tile


def run(config: ReportConfig, on_event: EventSink | None = None,
        stop: threading.Event | None = None) -> ReportResult:
    """Measure every face, flag the odd ones, and write the sheets and report.json."""
    output = ensure_writable_dir(config.output)
    faces = [f for f in read_faces_folder(config.input) if f.meta is not None]
    if not faces:
        raise UsageError(f"no faceforge face images in {config.input}",
                         "pass a folder `faceforge extract` wrote")
    with interruptible("tools faces report", "no sheet was written"):
        measures = measure_faces([f.path for f in faces], blur=True, pose=True,
                                 identity=not config.no_identity, on_event=on_event,
                                 stop=stop, what="tools faces report")
    entries = sorted(flag_faces(measures, config), key=lambda e: _severity(e, config))
    by_name = {m.path.name: m for m in measures}
    result = ReportResult(output, len(entries), [])
    for flag in FLAGS:
        result.flagged[flag] = sum(1 for e in entries if flag in e.flags)
    result.entries = [{"number": n, **vars(e)} for n, e in enumerate(entries, 1)]
    with interruptible("tools faces report", "the sheets written so far are complete"):
        cell = config.thumb_size
        for start in range(0, len(entries), config.per_sheet):
            chunk = entries[start:start + config.per_sheet]
            rows = -(-len(chunk) // config.columns)
            sheet = np.full((rows * (cell + _CAPTION), config.columns * cell, 3), 24, np.uint8)
            for offset, entry in enumerate(chunk):
                image, _ = read_face_png(by_name[entry.name].path)
                row, column = divmod(offset, config.columns)
                top, left = row * (cell + _CAPTION), column * cell
                sheet[top:top + cell + _CAPTION, left:left + cell] = _tile(
                    image, entry, start + offset + 1, cell)
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 88])
            path = output / f"sheet_{start // config.per_sheet + 1:03d}.jpg"
            atomic_write(path, data.tobytes(), durable=False)
            result.sheets.append(path)
        atomic_write(output / "report.json", json.dumps(
            {"input": str(config.input), "flag_colours": {k: v[0] for k, v in FLAGS.items()},
             "faces": result.entries}, indent=1))
    return result
