"""`report`: how good a converted video is, measured frame by frame against its source.

On sampled frames the faces of the source frame and of the converted frame are found
(detector + landmarks), paired by position, and compared: identity (dlib descriptor distance
to B's and A's faces), expression kept (mouth and eye opening), pose kept, stability (landmark
jitter, colour flicker), sharpness and the seam along the blend mask's border. The numbers go
to report.json; report.html shows them with plots over time and a contact sheet of the worst
frames (pipeline/report_html.py).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.core import quality
from faceforge.core.pose import head_pose
from faceforge.core.temporal import jitter
from faceforge.core.thresholds import SAME_PERSON_DISTANCE
from faceforge.errors import InputError, Interrupted, ModelError, UsageError
from faceforge.events import EventSink, Note, Progress, ignore
from faceforge.formats.model_state import read_state
from faceforge.io import open_source
from faceforge.io.files import atomic_write, ensure_writable_dir
from faceforge.io.images import list_images
from faceforge.options import REPORT_OPTIONS, option_defaults
from faceforge.pipeline.faces import FaceFinder, FaceFinderConfig, FoundFace

log = logging.getLogger(__name__)

REFERENCE_FACES = 32  # faces of A, B or a gallery person described at most (evenly chosen)
CROP_SIDE = 160  # side of each face on the contact sheet, pixels
#: an inner-lip gap above this (face sizes) counts as an open mouth: a closed mouth measures
#: 0.000-0.02 with dlib's landmarks, speech 0.03-0.15, a shout up to 0.3 (the shared videos)
MOUTH_OPEN = 0.03
SHARPNESS_MEASURE = ("variance of the Laplacian of the grey frame inside the face's landmark "
                     "mask (extended: brows to chin and forehead), on the same frame pixels in "
                     "the output and the source; output ÷ source per frame")
SEAM_MEASURE = ("mean squared Sobel gradient in a band along the border of convert's blend "
                "mask (extended landmark mask, default blur, the model's centering and "
                "coverage), band ±3% of the face size; output ÷ source per frame")
MEASURES = ("identity", "expression", "pose", "stability", "sharpness", "seam")


@dataclass
@option_defaults(REPORT_OPTIONS)
class ReportConfig:
    """Every `report` option (defaults from faceforge.options.report)."""

    converted: Path
    source: Path
    output: Path
    model_dir: Path | None
    faces_b: Path | None
    faces_a: Path | None
    gallery: Path | None
    frames: int
    every: int
    worst: int

    def __post_init__(self) -> None:
        for name in ("converted", "source", "output", "model_dir", "faces_b", "faces_a",
                     "gallery"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.frames < 3:
            raise UsageError("--frames must be 3 or more", "correlations need a few frames")


@dataclass
class ReportResult:
    output: Path
    html: Path
    json: Path
    summary: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        from faceforge.pipeline.report_html import fmt

        s = self.summary
        identity, expression, pose = s["identity"], s["expression"], s["pose"]
        out = [f"{s['frames']['paired']} of {s['frames']['sampled']} sampled frames measured; "
               f"report in {self.html}",
               f"  identity: nearer B in {fmt(identity['nearer_b_share'], percent=True)} of "
               f"frames (distance to B {fmt(identity['distance_to_b'])}, to A "
               f"{fmt(identity['distance_to_a'])})",
               f"  expression: mouth opening correlation "
               f"{fmt(expression['mouth_opening_correlation'])}, eye opening "
               f"{fmt(expression['eye_opening_correlation'])}",
               "  pose: yaw/pitch/roll off by " + "/".join(
                   fmt(pose[f"{angle}_difference_deg"], 1) for angle in ("yaw", "pitch", "roll"))
               + " degrees (" + "/".join(
                   fmt(pose[f"{angle}_varying_deg"], 1) for angle in ("yaw", "pitch", "roll"))
               + " without their steady offsets)",
               f"  stability: jitter {fmt(s['stability']['jitter_px'])} px, colour flicker "
               f"{fmt(s['stability']['colour_flicker_levels'])} levels",
               f"  sharpness: {fmt(s['sharpness']['ratio_median'])} of the source's",
               f"  seam: {fmt(s['seam']['ratio_median'])} of the source's edge energy"]
        gallery = identity.get("gallery")
        if gallery:
            out.insert(2, f"  identity: B ranked first of {gallery['candidates']} in "
                          f"{fmt(gallery['b_first_share'], percent=True)} of frames")
        return out


@dataclass
class FrameScore:
    """What was measured on one sampled frame (None where that face was not found)."""

    index: int
    face_size_px: float | None = None
    found_output: bool = False
    distance_to_b: float | None = None
    distance_to_a: float | None = None
    b_rank: int | None = None
    mouth_source: float | None = None
    mouth_output: float | None = None
    eyes_source: float | None = None
    eyes_output: float | None = None
    pose_source: tuple[float, float, float] | None = None
    pose_output: tuple[float, float, float] | None = None
    sharpness_source: float | None = None
    sharpness_output: float | None = None
    seam_source: float | None = None
    seam_output: float | None = None
    colour_source: list[float] | None = None
    colour_output: list[float] | None = None
    jitter_px: float | None = None  # change of (output - source) landmarks since last frame
    flicker_levels: float | None = None
    landmarks_source: np.ndarray | None = field(default=None, repr=False)
    landmarks_output: np.ndarray | None = field(default=None, repr=False)
    crops: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def sharpness_ratio(self) -> float | None:
        return _ratio(self.sharpness_output, self.sharpness_source)

    @property
    def seam_ratio(self) -> float | None:
        return _ratio(self.seam_output, self.seam_source)

    @property
    def pose_difference_deg(self) -> tuple[float, float, float] | None:
        """Output minus source yaw, pitch and roll (NaN where a pose was not found)."""
        if self.pose_source is None or self.pose_output is None:
            return None
        return tuple(_angle(o - s) for s, o in zip(self.pose_source, self.pose_output,
                                                    strict=True))  # type: ignore[return-value]


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom <= 1e-9:
        return None
    return top / bottom


def _angle(degrees: float) -> float:
    """An angle difference folded into -180..180."""
    return (degrees + 180.0) % 360.0 - 180.0


# -- reference faces ---------------------------------------------------------------------


class Describer:
    """Faces → dlib descriptors: found in frames and photos, or read from face PNGs."""

    def __init__(self, finder: FaceFinder) -> None:
        from faceforge.plugins.identity import FaceDescriber

        self.finder = finder
        self.describer = FaceDescriber()

    def describe(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.describer.describe(image, [landmarks])[0]

    def of_image(self, image: np.ndarray) -> np.ndarray | None:
        """The descriptor of the largest face in a frame or photo, if any."""
        faces = self.finder.find(image)
        if not faces:
            return None
        largest = max(faces, key=lambda f: quality.face_size(f.landmarks))
        return self.describe(image, largest.landmarks)

    def of_path(self, path: Path, limit: int | None = None) -> np.ndarray:
        """(N, 128) descriptors of the faces in a faces folder, an image folder, one image or
        a video (at most `limit`, default REFERENCE_FACES, spread evenly)."""
        limit = limit or REFERENCE_FACES
        if path.is_dir():
            images = list_images(path)
            chosen = [images[i] for i in _spread(len(images), limit)]
            out = [self._of_file(p) for p in chosen]
        else:
            with open_source(path) as source:
                count = source.frame_count
                picks = _spread(count, limit)
                out = [self.of_image(source.read_frame(i).image) for i in picks] if count \
                    else []
        found = [d for d in out if d is not None]
        if not found:
            raise InputError(f"no face found in {path}",
                             "pass a faces folder from `faceforge extract`, or photos or a "
                             "video in which a face can be seen")
        return np.stack(found)

    def _of_file(self, path: Path) -> np.ndarray | None:
        """A face PNG's descriptor from its own landmarks, a photo's from its largest face;
        None for a photo without a face."""
        from faceforge.plugins.identity import reference_descriptors

        try:
            return reference_descriptors([path], self.finder.detector, self.finder.landmarker,
                                         self.describer)[0]
        except InputError:
            log.debug("no face in %s", path)
            return None


def _spread(count: int, limit: int) -> list[int]:
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, limit)})


def _gallery(describer: Describer, folder: Path) -> dict[str, np.ndarray]:
    """Person → centroid descriptor: one per subfolder, or one per image of a flat folder."""
    people: dict[str, np.ndarray] = {}
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    for sub in subfolders:
        try:
            people[sub.name] = describer.of_path(sub, 8).mean(axis=0)
        except InputError:
            log.warning("no face in gallery folder %s: left out", sub)
    for image in list_images(folder):
        descriptor = describer._of_file(image)
        if descriptor is not None:
            people[image.stem] = descriptor
    if not people:
        raise InputError(f"no face found in the gallery {folder}",
                         "give a folder with one subfolder of photos per person")
    return people


# -- measuring frames --------------------------------------------------------------------


def _centre(face: FoundFace) -> np.ndarray:
    return np.asarray(face.landmarks, np.float64).mean(axis=0)


def _crop(image: np.ndarray, centre: np.ndarray, size: float) -> np.ndarray:
    """A square around the face (1.8 face sizes), CROP_SIDE pixels."""
    side = 1.8 * size
    scale = CROP_SIDE / side
    matrix = np.array([[scale, 0, CROP_SIDE / 2 - scale * centre[0]],
                       [0, scale, CROP_SIDE / 2 - scale * centre[1]]])
    return cv2.warpAffine(image, matrix, (CROP_SIDE, CROP_SIDE), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(24, 24, 24))


class FrameMeasurer:
    """Scores one (source frame, output frame) pair against the reference identities."""

    def __init__(self, describer: Describer, centroid_b: np.ndarray,
                 centroid_a: np.ndarray | None, gallery: dict[str, np.ndarray],
                 centering: str, coverage: float) -> None:
        self.describer = describer
        self.centroid_b = centroid_b
        self.centroid_a = centroid_a  # None: the source's own faces, known after the frames
        self.gallery = gallery
        self.centering = centering
        self.coverage = coverage
        self.source_descriptors: list[np.ndarray] = []
        self.output_descriptors: dict[int, np.ndarray] = {}

    def measure(self, index: int, source: np.ndarray, output: np.ndarray) -> FrameScore:
        score = FrameScore(index)
        source_faces = self.describer.finder.find(source)
        if not source_faces:
            return score
        main = max(source_faces, key=lambda f: quality.face_size(f.landmarks))
        size = quality.face_size(main.landmarks)
        points = np.asarray(main.landmarks, np.float64)
        score.face_size_px = size
        score.landmarks_source = points
        score.mouth_source = quality.mouth_opening(points)
        score.eyes_source = quality.eye_opening(points)
        frame_size = (source.shape[1], source.shape[0])
        score.pose_source = head_pose(points, frame_size)
        self.source_descriptors.append(self.describer.describe(source, points))
        score.crops = (_crop(source, points.mean(axis=0), size),
                       _crop(output, points.mean(axis=0), size))

        # Image measures on the same pixels of both frames: where the source face is.
        region = quality.face_region(points, source.shape)
        score.sharpness_source = quality.laplacian_variance(source, region)
        score.sharpness_output = quality.laplacian_variance(output, region)
        score.colour_source = quality.mean_colour(source, region).tolist()
        score.colour_output = quality.mean_colour(output, region).tolist()
        blend = quality.blend_mask_in_frame(points, source.shape, self.centering,
                                            self.coverage)
        ring = quality.border_ring(blend, 0.03 * size)
        score.seam_source = quality.gradient_energy(source, ring)
        score.seam_output = quality.gradient_energy(output, ring)

        output_faces = self.describer.finder.find(output)
        pairs = quality.pair_by_position([_centre(main)], [_centre(f) for f in output_faces],
                                         [size])
        if not pairs:
            return score
        found = np.asarray(output_faces[pairs[0][1]].landmarks, np.float64)
        score.found_output = True
        score.landmarks_output = found
        score.mouth_output = quality.mouth_opening(found)
        score.eyes_output = quality.eye_opening(found)
        score.pose_output = head_pose(found, frame_size)
        descriptor = self.describer.describe(output, found)
        self.output_descriptors[index] = descriptor
        score.distance_to_b = float(np.linalg.norm(descriptor - self.centroid_b))
        return score

    def finish(self, scores: list[FrameScore]) -> np.ndarray:
        """Distances to A and B's ranks, once A's centroid is known; returns that centroid."""
        centroid_a = self.centroid_a
        if centroid_a is None:
            centroid_a = np.mean(self.source_descriptors, axis=0)
        candidates = {"B": self.centroid_b, "A": centroid_a, **self.gallery}
        for score in scores:
            descriptor = self.output_descriptors.get(score.index)
            if descriptor is None:
                continue
            score.distance_to_a = float(np.linalg.norm(descriptor - centroid_a))
            if self.gallery:
                distances = {name: float(np.linalg.norm(descriptor - centroid))
                             for name, centroid in candidates.items()}
                score.b_rank = 1 + sum(d < distances["B"] for d in distances.values())
        return centroid_a


def _motion_scores(scores: list[FrameScore]) -> None:
    """Per frame, the change since the previous sampled frame of what the swap did to the
    landmarks (output minus source) and to the face's mean colour."""
    previous = None
    for score in scores:
        if not score.found_output:
            previous = None
            continue
        if previous is not None:
            offset = score.landmarks_output - score.landmarks_source
            before = previous.landmarks_output - previous.landmarks_source
            score.jitter_px = float(np.linalg.norm(offset - before, axis=1).mean())
            colour = np.subtract(score.colour_output, score.colour_source)
            colour_before = np.subtract(previous.colour_output, previous.colour_source)
            score.flicker_levels = float(np.abs(colour - colour_before).mean())
        previous = score


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(kept)) if kept else None


def _track_motion(scores: list[FrameScore], which: str) -> float | None:
    """Mean frame-to-frame landmark motion (px) over the runs of sampled frames where both
    faces were found, weighted by their steps."""
    runs: list[list[np.ndarray]] = [[]]
    for score in scores:
        if score.found_output:
            runs[-1].append(getattr(score, f"landmarks_{which}"))
        elif runs[-1]:
            runs.append([])
    steps = [(jitter(np.stack(run))["motion_px"], len(run) - 1) for run in runs if len(run) > 1]
    if not steps:
        return None
    return float(sum(motion * count for motion, count in steps) / sum(c for _, c in steps))


def summarise(scores: list[FrameScore], gallery_size: int) -> dict[str, Any]:
    paired = [s for s in scores if s.found_output]
    to_b = [s.distance_to_b for s in paired]
    to_a = [s.distance_to_a for s in paired]
    nearer = [b < a for b, a in zip(to_b, to_a, strict=True) if b is not None and a is not None]
    identity: dict[str, Any] = {
        "distance_to_b": _mean(to_b), "distance_to_a": _mean(to_a),
        "nearer_b_share": float(np.mean(nearer)) if nearer else None,
        "within_same_person_distance_of_b_share":
            float(np.mean([d < SAME_PERSON_DISTANCE for d in to_b])) if to_b else None,
        "same_person_distance": SAME_PERSON_DISTANCE}
    if gallery_size:
        ranks = [s.b_rank for s in paired if s.b_rank is not None]
        identity["gallery"] = {"candidates": gallery_size + 2,
                               "b_first_share": float(np.mean([r == 1 for r in ranks]))
                               if ranks else None,
                               "b_mean_rank": _mean(ranks)}
    mouth_s = [s.mouth_source for s in paired]
    mouth_o = [s.mouth_output for s in paired]
    eyes_s = [s.eyes_source for s in paired]
    eyes_o = [s.eyes_output for s in paired]
    pose: dict[str, float | None] = {}
    for k, name in enumerate(("yaw", "pitch", "roll")):
        differences = [d for s in paired
                       if math.isfinite(d := _angle(s.pose_output[k] - s.pose_source[k]))]
        offset = _median(differences)
        pose[f"{name}_difference_deg"] = _mean([abs(d) for d in differences])
        # The generic 3-D face fits two people's landmarks with different tilts: a steady
        # offset is partly the measure's; what varies from frame to frame is the swap's.
        pose[f"{name}_offset_deg"] = offset
        pose[f"{name}_varying_deg"] = _mean([abs(d - offset) for d in differences])
    motion_source = _track_motion(scores, "source")
    motion_output = _track_motion(scores, "output")
    jitter = _mean([s.jitter_px for s in paired])
    sizes = _mean([s.face_size_px for s in paired])
    return {
        "frames": {"sampled": len(scores),
                   "with_source_face": sum(s.face_size_px is not None for s in scores),
                   "paired": len(paired), "face_size_px": sizes},
        "identity": identity,
        "expression": {
            "mouth_opening_correlation": quality.correlation(mouth_s, mouth_o),
            "eye_opening_correlation": quality.correlation(eyes_s, eyes_o),
            "mouth_opening_source_mean": _mean(mouth_s),
            "mouth_opening_output_mean": _mean(mouth_o),
            # a correlation only means something if the mouth moves: say how often it opens,
            # and how far the output's lips are from the source's in every frame
            "mouth_open_share": _mean([float(m > MOUTH_OPEN) for m in mouth_s if m is not None]),
            "mouth_opening_error": _mean([abs(o - m) for m, o in zip(mouth_s, mouth_o,
                                                                     strict=True)
                                          if m is not None and o is not None])},
        "pose": pose,
        "stability": {
            "jitter_px": jitter,
            "jitter_face_share": jitter / sizes if jitter is not None and sizes else None,
            "landmark_motion_source_px": motion_source,
            "landmark_motion_output_px": motion_output,
            "landmark_motion_excess_px": (motion_output - motion_source
                                          if motion_output is not None
                                          and motion_source is not None else None),
            "colour_flicker_levels": _mean([s.flicker_levels for s in paired])},
        "sharpness": {"measure": SHARPNESS_MEASURE,
                      "ratio_median": _median([s.sharpness_ratio for s in scores]),
                      "ratio_mean": _mean([s.sharpness_ratio for s in scores])},
        "seam": {"measure": SEAM_MEASURE,
                 "ratio_median": _median([s.seam_ratio for s in scores]),
                 "ratio_mean": _mean([s.seam_ratio for s in scores])},
    }


def badness(score: FrameScore, measure: str, offsets: dict[str, Any]) -> float | None:
    """How bad a frame is for one measure (higher is worse), for the worst-first sheet."""
    if measure == "identity":
        if score.distance_to_b is None:
            return None
        return score.distance_to_b - (score.distance_to_a or 0.0)
    if measure == "expression":
        if score.mouth_output is None:
            return None
        return (abs(score.mouth_output - score.mouth_source - offsets["mouth"])
                + abs(score.eyes_output - score.eyes_source - offsets["eyes"]))
    if measure == "pose":
        if score.pose_difference_deg is None:
            return None
        varying = [abs(d - o) for d, o in zip(score.pose_difference_deg, offsets["pose"],
                                              strict=True) if math.isfinite(d - o)]
        return max(varying) if varying else None
    if measure == "stability":
        return score.jitter_px
    if measure == "sharpness":
        return None if score.sharpness_ratio is None else -score.sharpness_ratio
    if measure == "seam":
        return score.seam_ratio
    raise ValueError(measure)


def worst_frames(scores: list[FrameScore], count: int) -> dict[str, list[int]]:
    """Per measure, the indices (into `scores`) of its `count` worst frames."""
    paired = [s for s in scores if s.found_output]
    offsets = {"mouth": _median([s.mouth_output - s.mouth_source for s in paired]) or 0.0,
               "eyes": _median([s.eyes_output - s.eyes_source for s in paired]) or 0.0,
               "pose": [_median([s.pose_difference_deg[k] for s in paired]) or 0.0
                        for k in range(3)]}
    out = {}
    for measure in MEASURES:
        rated = [(value, k) for k, s in enumerate(scores)
                 if s.crops is not None
                 and (value := badness(s, measure, offsets)) is not None
                 and math.isfinite(value)]
        out[measure] = [k for _, k in sorted(rated, key=lambda item: -item[0])[:count]]
    return out


def _per_frame(score: FrameScore) -> dict[str, Any]:
    data = {key: value for key, value in asdict(score).items()
            if key not in ("landmarks_source", "landmarks_output", "crops")}
    data["sharpness_ratio"] = score.sharpness_ratio
    data["seam_ratio"] = score.seam_ratio
    return data


# -- the job -----------------------------------------------------------------------------


def _model_facts(model_dir: Path | None) -> dict[str, Any]:
    if model_dir is None:
        return {}
    state = read_state(model_dir)
    if state is None:
        raise ModelError(f"{model_dir} holds no faceforge model (no state.json)",
                         "pass the -m folder that `faceforge train` wrote")
    return state.train_config


def _existing(path: Any) -> Path | None:
    return Path(path) if path and Path(path).exists() else None


def report(config: ReportConfig, on_event: EventSink | None = None,
           stop: threading.Event | None = None) -> ReportResult:
    """Measure the converted video against its source and write report.html/report.json."""
    from faceforge.pipeline.report_html import write_report

    emit = on_event or ignore
    started = time.perf_counter()
    train_config = _model_facts(config.model_dir)
    faces_b = config.faces_b or _existing(train_config.get("input_b"))
    if faces_b is None:
        raise UsageError("no faces of B to compare the swap with",
                         "pass --faces-b (a faces folder, photos or a video of B), or --model "
                         "whose training faces of B are still in place")
    faces_a = config.faces_a or _existing(train_config.get("input_a"))
    centering = train_config.get("centering", "face")
    coverage = float(train_config.get("coverage", 87.5)) / 100
    output = ensure_writable_dir(config.output)

    finder = FaceFinder(FaceFinderConfig())
    describer = Describer(finder)
    centroid_b = describer.of_path(faces_b).mean(axis=0)
    centroid_a = describer.of_path(faces_a).mean(axis=0) if faces_a is not None else None
    gallery = _gallery(describer, config.gallery) if config.gallery is not None else {}
    measurer = FrameMeasurer(describer, centroid_b, centroid_a, gallery, centering, coverage)

    scores: list[FrameScore] = []
    measuring = time.perf_counter()
    with open_source(config.source) as source, open_source(config.converted) as converted:
        count = min(source.frame_count, converted.frame_count)
        if count == 0:
            raise InputError(f"{config.converted} holds no frames")
        if source.frame_count != converted.frame_count:
            emit(Note(f"{config.converted} has {converted.frame_count} frames and "
                      f"{config.source} {source.frame_count}: the first {count} are compared"))
        every = config.every or max(1, -(-count // config.frames))  # spread over all
        total = min(config.frames, -(-count // every))
        size = (source.info.width, source.info.height)
        pairs = zip(source.iter_frames(every_n=every), converted.iter_frames(every_n=every),
                    strict=False)
        for done, (frame, result) in enumerate(pairs, 1):
            if done > total:
                break
            if stop is not None and stop.is_set():
                raise Interrupted("the report was stopped; nothing was written")
            image = result.image
            if (image.shape[1], image.shape[0]) != size:  # converted with --output-scale
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            scores.append(measurer.measure(frame.index, frame.image, image))
            elapsed = time.perf_counter() - measuring
            emit(Progress(done, total, "frame", done / elapsed if elapsed else 0.0, None,
                          {"faces": sum(s.found_output for s in scores)}))
    if not any(s.face_size_px is not None for s in scores):
        raise InputError(f"no face found in {config.source} on the sampled frames",
                         "pass the video the converted one was made from as --source")
    if not any(s.found_output for s in scores):
        emit(Note(f"no face was found in {config.converted} where the source has one: only "
                  "sharpness, seam and the contact sheet are measured"))
    measurer.finish(scores)
    _motion_scores(scores)
    summary = summarise(scores, len(gallery))
    summary.update({
        "converted": str(config.converted), "source": str(config.source),
        "model": str(config.model_dir) if config.model_dir else None,
        "faces_b": str(faces_b),
        "faces_a": str(faces_a) if faces_a else "the source video's own faces",
        "gallery": sorted(gallery), "every_nth_frame": every,
        "elapsed_s": round(time.perf_counter() - started, 1)})
    worst = worst_frames(scores, config.worst)
    summary["worst_frames"] = {m: [scores[k].index for k in ks] for m, ks in worst.items()}
    summary["per_frame"] = [_per_frame(s) for s in scores]
    html = write_report(output, summary, scores, worst)
    json_path = output / "report.json"
    summary = _plain(summary)
    atomic_write(json_path, json.dumps(summary, indent=1, allow_nan=False), durable=False)
    return ReportResult(output, html, json_path, summary)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy values as Python's, NaN and infinities as null."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
