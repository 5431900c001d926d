"""`tools sort`: order or group a faces folder by identity, likeness to reference photos,
sharpness, head pose, colour or face size, by renaming the files or moving them into numbered
folders. Every move is journaled (`faceforge.tools.renames`): a stopped sort puts everything
back, and `--undo` reverts a finished one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceforge.errors import UsageError
from faceforge.events import EventSink
from faceforge.options import option_defaults
from faceforge.options.tools import SORT
from faceforge.tools import renames
from faceforge.tools.face_folder import read_faces_folder
from faceforge.tools.measures import FaceMeasures, cluster_descriptors, measure_faces
from faceforge.tools.progress import interruptible

log = logging.getLogger(__name__)

# Measures whose folders cover equal ranges of the value (degrees); the others get equal
# numbers of faces per folder, their values being far from evenly spread.
_EQUAL_WIDTH = ("yaw", "pitch")


@dataclass
@option_defaults(SORT)
class SortConfig:
    input: Path
    output: Path | None
    sort_by: str
    final_process: str
    bins: int
    threshold: float
    ref: list[str] | None
    keep: bool
    undo: bool

    def __post_init__(self) -> None:
        self.input = Path(self.input)
        self.output = None if self.output in (None, "") else Path(self.output)
        if self.sort_by == "reference" and not self.ref and not self.undo:
            raise UsageError("--sort-by reference needs reference photos",
                             "add --ref PHOTO (repeat for several)")
        if self.keep and self.output is None:
            raise UsageError("--keep copies into another folder", "add -o FOLDER")


@dataclass
class SortResult:
    folder: Path
    sort_by: str
    faces: int
    moved: int
    groups: dict[str, int] = field(default_factory=dict)  # folder name -> faces
    order: list[str] = field(default_factory=list)  # file names, first to last
    values: dict[str, float] = field(default_factory=dict)  # file name -> the measure
    left_alone: int = 0
    undone: bool = False

    def lines(self) -> list[str]:
        if self.undone:
            return [f"put back {self.moved} files sorted in {self.folder}"]
        where = (f"into {len(self.groups)} folders" if self.groups else "by renaming")
        out = [f"sorted {self.faces} faces of {self.folder} by {self.sort_by} {where} (undo: "
               f"faceforge tools sort --undo -i {self.folder})"]
        if self.groups:
            out.append("faces per folder: " + ", ".join(f"{name}: {count}" for name, count
                                                         in self.groups.items()))
        if self.left_alone:
            out.append(f"{self.left_alone} images carry no face metadata (left as they are)")
        return out


def _descriptor_distance_order(measures: list[FaceMeasures], labels: np.ndarray) -> list[int]:
    """By person, and within a person the most typical face first."""
    descriptors = np.stack([m.descriptor for m in measures])
    keys = []
    for index, label in enumerate(labels):
        centre = descriptors[labels == label].mean(axis=0)
        keys.append((int(label), float(np.linalg.norm(descriptors[index] - centre)), index))
    return [index for *_, index in sorted(keys)]


def _histogram_chain(histograms: np.ndarray) -> list[int]:
    """Similar colours next to each other: start at the most typical face, then always the
    nearest (Bhattacharyya-like distance) of those left."""
    roots = np.sqrt(histograms)
    distances = np.sqrt(np.clip(1.0 - roots @ roots.T, 0.0, None))
    start = int(np.argmin(distances.mean(axis=1)))
    order, left = [start], set(range(len(histograms))) - {start}
    while left:
        candidates = sorted(left)
        nearest = candidates[int(np.argmin(distances[order[-1], candidates]))]
        order.append(nearest)
        left.remove(nearest)
    return order


def _bins(values: np.ndarray, order: list[int], bins: int, equal_width: bool) -> list[int]:
    """A folder number per face: `bins` equal ranges of value, or of rank. Faces whose value
    could not be measured (NaN: no pose fits their landmarks) go in one folder after those."""
    groups = [bins] * len(values)
    measured = [index for index in order if np.isfinite(values[index])]
    if equal_width and measured:
        low = float(min(values[i] for i in measured))
        span = (float(max(values[i] for i in measured)) - low) or 1.0
        for index in measured:
            groups[index] = min(bins - 1, int((values[index] - low) / span * bins))
    else:
        for rank, index in enumerate(measured):
            groups[index] = min(bins - 1, rank * bins // len(measured))
    return groups


def rank_faces(config: SortConfig, measures: list[FaceMeasures],
               references: np.ndarray | None = None) -> tuple[list[int], list[int], list[float]]:
    """(order, folder number per face, the measure per face) for `config.sort_by`."""
    method = config.sort_by
    count = len(measures)
    if method == "identity":
        descriptors = np.stack([m.descriptor for m in measures])
        labels = cluster_descriptors(descriptors, config.threshold)
        order = _descriptor_distance_order(measures, labels)
        return order, labels.tolist(), labels.astype(float).tolist()
    if method == "reference":
        from faceforge.plugins.identity import distance_to_refs

        distances = distance_to_refs(np.stack([m.descriptor for m in measures]), references)
        order = [int(i) for i in np.argsort(distances, kind="stable")]
        groups = [0 if d <= config.threshold else 1 for d in distances]
        return order, groups, distances.tolist()
    if method == "hist":
        order = _histogram_chain(np.stack([m.histogram for m in measures]))
        rank = np.empty(count)
        rank[order] = np.arange(count)
        return order, _bins(rank, order, config.bins, False), rank.tolist()
    values = np.array([getattr(m, {"size": "size_px"}.get(method, method)) for m in measures],
                      dtype=np.float64)
    descending = method in ("blur", "size")
    order = [int(i) for i in np.argsort(-values if descending else values, kind="stable")]
    return order, _bins(values, order, config.bins, method in _EQUAL_WIDTH), values.tolist()


def _reference_descriptors(photos: list[str]) -> np.ndarray:
    from faceforge.options import EXTRACT_OPTIONS
    from faceforge.plugins.align import LANDMARKERS
    from faceforge.plugins.detect import DETECTORS
    from faceforge.plugins.identity import reference_descriptors

    detector = DETECTORS.get(EXTRACT_OPTIONS.default("detector"))()
    landmarker = LANDMARKERS.get(EXTRACT_OPTIONS.default("aligner"))()
    return reference_descriptors([Path(p) for p in photos], detector, landmarker)


def run(config: SortConfig, on_event: EventSink | None = None,
        stop: threading.Event | None = None) -> SortResult:
    """Sort a faces folder (into -o, or in place). Undoable with `--undo`."""
    folder = config.output or config.input
    if config.undo:
        moved = renames.undo(config.input, on_event)
        return SortResult(config.input, config.sort_by, moved, moved, undone=True)
    renames.recover(config.input, on_event)
    if folder != config.input:
        renames.recover(folder, on_event)
    files = read_faces_folder(config.input)
    faces = [f for f in files if f.meta is not None]
    method = config.sort_by
    references = _reference_descriptors(config.ref or []) if method == "reference" else None
    with interruptible("tools sort", "no file was moved"):
        measures = measure_faces(
            [f.path for f in faces], blur=method == "blur", pose=method in ("yaw", "pitch"),
            histogram=method == "hist", size=method == "size",
            identity=method in ("identity", "reference"), on_event=on_event, stop=stop,
            what=f"tools sort (measuring {method})")
    result = SortResult(folder, method, len(faces), 0, left_alone=len(files) - len(faces))
    if not faces:
        return result
    order, groups, values = rank_faces(config, measures, references)
    width = len(str(max(groups)))
    moves, planned = [], set()
    for rank, index in enumerate(order):
        face = faces[index]
        name = face.store_name() or face.path.name
        if config.final_process == "rename":
            target = folder / f"{rank:05d}_{name}"
        else:
            group = f"{groups[index]:0{width}d}"
            result.groups[group] = result.groups.get(group, 0) + 1
            target = folder / group / name
        if target in planned:  # the same face twice in the folder: keep its own name
            target = target.with_name(face.path.name)
        planned.add(target)
        moves.append(renames.Move(face.path, target))
        result.order.append(target.relative_to(folder).as_posix())
        result.values[target.relative_to(folder).as_posix()] = values[index]
    result.groups = dict(sorted(result.groups.items()))
    result.moved = renames.apply_moves(folder, "tools sort", moves, copy=config.keep,
                                       on_event=on_event, stop=stop)
    return result
