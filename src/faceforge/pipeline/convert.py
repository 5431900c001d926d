"""`convert`: put B's face on A in every frame and write the finished video.

Per face: crop with the stored alignment at the model's centering and coverage, predict in
batches, warp the prediction back with the inverse matrix, blend it in with a processed mask
after matching its colour to the original face. Decoding runs on its own thread and encoding
in the writer, so reading, predicting/blending and writing overlap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from faceforge.core import geometry
from faceforge.core.blend import MaskBlendConfig, composite, process_mask, sharpen
from faceforge.core.color import adjust_color
from faceforge.core.image import warp_face
from faceforge.core.masks import landmark_mask
from faceforge.errors import InputError, Interrupted, UsageError
from faceforge.events import EventSink, Note, Progress, ignore
from faceforge.formats.alignments import FaceRecord, default_alignments_path
from faceforge.formats.fsa import read_alignments
from faceforge.io import Frame, FrameSource, open_source, source_fingerprint
from faceforge.io.background import background_frames
from faceforge.io.files import ensure_writable_dir, remove_stale_temporaries
from faceforge.io.source import SourceInfo
from faceforge.options import CONVERT_OPTIONS, EXTRACT_OPTIONS, option_defaults
from faceforge.plugins.writer import Writer
from faceforge.training.checkpoint import load_trained_model
from faceforge.training.precision import Compute, apply_compute, choose_compute, time_per_call

log = logging.getLogger(__name__)

PREDICT_BATCH_FRAMES = 8


@dataclass
@option_defaults(CONVERT_OPTIONS)
class ConvertConfig:
    """Every `convert` option (defaults from faceforge.options.convert), plus the device."""

    input: Path
    output: Path
    model_dir: Path
    alignments: Path | None
    on_the_fly: bool
    reference_video: Path | None
    swap_model: bool
    mask_type: str
    mask_blur: str
    mask_kernel: int
    mask_passes: int
    mask_threshold: float
    erosion: float
    erosion_top: float
    erosion_bottom: float
    erosion_left: float
    erosion_right: float
    face_scale: float
    color: str
    sharpen: str
    detail: float
    frame_ranges: list[tuple[int, int]] | None
    keep_unchanged: bool
    filter: list[str] | None
    nfilter: list[str] | None
    ref_threshold: float
    writer: str | None
    codec: str
    crf: int | None
    preset: str
    image_format: str
    output_scale: int
    skip_existing: bool
    jobs: int
    precision: str
    cpu_kernels: str
    device: str | None = None  # None: cuda if available, else cpu

    def __post_init__(self) -> None:
        for name in ("input", "output", "model_dir", "alignments", "reference_video"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if not 1 <= self.output_scale <= 1000:
            raise UsageError(f"--output-scale {self.output_scale} is out of range",
                             "use a percentage such as 50 or 100")
        if not 0.0 <= self.detail <= 200.0:
            raise UsageError(f"--detail {self.detail} is out of range",
                             "use a percentage between 0 (off) and 200, such as 100")
        if not -90.0 <= self.face_scale <= 900.0:
            raise UsageError(f"--face-scale {self.face_scale} is out of range",
                             "use a percentage between -90 and 900, such as -5 or 10")

    def in_ranges(self, index: int) -> bool:
        if not self.frame_ranges:
            return True
        return any(start <= index <= end for start, end in self.frame_ranges)

    def blend_config(self) -> MaskBlendConfig:
        return MaskBlendConfig(
            blur_type=None if self.mask_blur == "none" else self.mask_blur,
            kernel_size=self.mask_kernel, passes=self.mask_passes,
            threshold=self.mask_threshold, erosion=self.erosion,
            erosion_top=self.erosion_top, erosion_bottom=self.erosion_bottom,
            erosion_left=self.erosion_left, erosion_right=self.erosion_right)


@dataclass
class ConvertResult:
    output: Path
    frames_written: int
    faces_swapped: int
    elapsed_s: float
    stage_s: dict[str, float] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames_written / self.elapsed_s if self.elapsed_s else 0.0


# --------------------------------------------------------------------------------------


class FaceSwapper:
    """The model side of conversion: crop faces at the model's geometry, predict in batches."""

    def __init__(self, model_dir: Path, swap_model: bool, device: str | None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model, state = load_trained_model(model_dir)
        self.model = model.to(self.device).eval()
        self.compute = Compute("fp32", True)
        self.state = state
        self.centering = state.train_config.get("centering", "face")
        self.coverage = float(state.train_config.get("coverage", 87.5)) / 100
        self.to_side = "a" if swap_model else "b"
        self.input_size = self.model.input_size
        self.output_size = self.model.output_size
        self.learn_mask = bool(getattr(self.model, "learn_mask", False))

    def matrices(self, legacy: np.ndarray, face_scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Frame→crop matrices at the model's input and output sizes."""
        def at(size: int) -> np.ndarray:
            matrix = geometry.aligned_matrix(legacy, size, self.centering, self.coverage)
            if face_scale:
                # Scale the crop about its centre: a bigger face means a smaller window.
                zoom = np.eye(3)
                zoom[:2, :2] *= 1.0 / (1.0 + face_scale / 100)
                zoom[:2, 2] = (size / 2) * (1 - zoom[0, 0])
                matrix = (zoom @ geometry.to_homogeneous(matrix))[:2]
            return matrix
        return at(self.input_size), at(self.output_size)

    def choose_compute(self, precision: str, cpu_kernels: str, batch_faces: int) -> str:
        """Pick (by measurement, cached, when asked for auto) how the model runs; says why."""
        def measure(compute: Compute) -> float:
            own, self.compute = self.compute, compute
            apply_compute(self.model, compute, self.device)
            size = self.input_size
            crops = [np.full((size, size, 3), 128, np.uint8)] * batch_faces
            try:
                return time_per_call(lambda: self.predict(crops))
            finally:
                self.compute = own
                apply_compute(self.model, own, self.device)

        workload = {"job": "convert", "trainer": self.state.trainer,
                    "model": self.state.model_config, "batch": batch_faces,
                    "device": str(self.device)}
        self.compute, why = choose_compute(precision, cpu_kernels, self.device, workload,
                                           measure)
        apply_compute(self.model, self.compute, self.device)
        return why

    @torch.no_grad()
    def predict(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 HxWx3 crops → float32 (N, out, out, 3) faces and optional (N, out, out) masks."""
        batch = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2)
        batch = batch.float().div_(255.0)
        autocast = self.compute.autocast
        if autocast is not None or self.device.type == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=autocast or torch.float32,
                            enabled=autocast is not None):
            out = self.model(batch, self.to_side)
        masks = None
        if isinstance(out, tuple):
            out, masks = out
            masks = masks.float()[:, 0].clamp(0, 1).cpu().numpy()
        faces = out.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return faces, masks


def face_lookup(config: ConvertConfig, source: FrameSource,
                  ) -> Callable[[Frame], list[tuple[np.ndarray, np.ndarray]]]:
    """Per frame, the faces to swap: from the alignments store, or found on the fly."""
    if config.on_the_fly:
        from faceforge.pipeline.faces import FaceFinder, FaceFinderConfig

        # The default detector and landmarker, with the reference-photo filters of convert.
        finder = FaceFinder(FaceFinderConfig(filter=config.filter, nfilter=config.nfilter,
                                             ref_threshold=config.ref_threshold))

        def find(frame: Frame) -> list[tuple[np.ndarray, np.ndarray]]:
            return [(f.landmarks, geometry.legacy_matrix(f.landmarks))
                    for f in finder.find(frame.image)]
        return find

    path = config.alignments or _default_alignments(config.input)
    if not path.exists():
        raise InputError(f"no alignments store for {config.input} at {path}",
                         "run `faceforge extract` on it first, pass -p, or use -T to find "
                         "faces while converting")
    # A Faceswap .fsa file is read as it is; its frames are matched to this source.
    meta, stored_frames = read_alignments(path, source=config.input)
    fingerprint = source_fingerprint(config.input)
    if meta.get("source_fingerprint") not in (None, fingerprint) or meta.get(
            "frame_count") not in (None, source.info.frame_count):
        raise InputError(
            f"alignments store {path} belongs to another video "
            f"({meta.get('source_path', 'unknown source')}, {meta.get('frame_count')} frames)",
            "pass the store that `faceforge extract` made for this video with -p")
    keep_refs = drop_refs = None
    if config.filter or config.nfilter:
        keep_refs, drop_refs = _reference_sets(config)
    frames = {f.index: f for f in stored_frames}
    describer = None

    def describe(frame: Frame, face: FaceRecord) -> np.ndarray:
        """Descriptors for stores extracted without -I, made once per conversion."""
        nonlocal describer
        if describer is None:
            from faceforge.plugins.identity import FaceDescriber

            describer = FaceDescriber()
        return describer.describe(frame.image, [face.landmarks])[0]

    def lookup(frame: Frame) -> list[tuple[np.ndarray, np.ndarray]]:
        record = frames.get(frame.index)
        if record is None:
            return []
        faces = record.faces
        if keep_refs is not None or drop_refs is not None:
            faces = [f for f in faces if _passes(f, frame, keep_refs, drop_refs,
                                                 config.ref_threshold, describe)]
        return [(f.landmarks.astype(np.float64), f.matrix) for f in faces]
    return lookup


def _default_alignments(source: Path) -> Path:
    """The store `extract` writes by default; else Faceswap's default .fsa beside it."""
    ours = default_alignments_path(source)
    if ours.exists():
        return ours
    faceswap = (source / "alignments.fsa" if source.is_dir()
                else source.with_name(f"{source.stem}_alignments.fsa"))
    return faceswap if faceswap.exists() else ours


def _reference_sets(config: ConvertConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    from faceforge.plugins.align import LANDMARKERS
    from faceforge.plugins.detect import DETECTORS
    from faceforge.plugins.identity import reference_descriptors

    detector = DETECTORS.get(EXTRACT_OPTIONS.default("detector"))()
    landmarker = LANDMARKERS.get(EXTRACT_OPTIONS.default("aligner"))()
    keep = (reference_descriptors([Path(p) for p in config.filter], detector, landmarker)
            if config.filter else None)
    drop = (reference_descriptors([Path(p) for p in config.nfilter], detector, landmarker)
            if config.nfilter else None)
    return keep, drop


def _passes(face: FaceRecord, frame: Frame, keep: np.ndarray | None, drop: np.ndarray | None,
            threshold: float, describe: Callable[[Frame, FaceRecord], np.ndarray]) -> bool:
    descriptor = face.identity if face.identity is not None else describe(frame, face)
    if keep is not None and np.linalg.norm(keep - descriptor, axis=1).min() > threshold:
        return False
    if drop is not None and np.linalg.norm(drop - descriptor, axis=1).min() <= threshold:
        return False
    return True


def blend_face(frame: np.ndarray, face: np.ndarray, predicted_mask: np.ndarray | None,
                landmarks: np.ndarray, out_matrix: np.ndarray, config: ConvertConfig,
                blend: MaskBlendConfig) -> np.ndarray:
    size = face.shape[0]
    if config.mask_type == "predicted":
        if predicted_mask is None:
            raise UsageError("this model has no learned mask",
                             "use -M extended or components, or train with learn_mask")
        mask = predicted_mask
    elif config.mask_type == "none":
        mask = np.ones((size, size), np.float32)
    else:
        mask = landmark_mask(landmarks, out_matrix, size, config.mask_type)
    mask = process_mask(mask, blend, size)
    old = warp_face(frame, out_matrix, size).astype(np.float32) / 255.0
    if config.color != "none":
        face = adjust_color(config.color, face, old, mask)
    if config.sharpen != "none":
        face = sharpen(face, config.sharpen)
    blended, _ = composite(frame, face, mask, out_matrix, config.detail / 100.0)
    return blended


def _scaled(image: np.ndarray, percent: int) -> np.ndarray:
    if percent == 100:
        return image
    import cv2

    height, width = image.shape[:2]
    size = (max(2, round(width * percent / 100) // 2 * 2),
            max(2, round(height * percent / 100) // 2 * 2))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if percent < 100
                      else cv2.INTER_CUBIC)


def _writer_info(config: ConvertConfig, info: SourceInfo) -> SourceInfo:
    """What the writer should know of the source: a frame folder borrows the reference video's
    frame rate and audio (`-r`). Frame i of the folder stands for frame i of the reference, so
    the reference's frame count stays: the audio is then cut to the frames the folder has."""
    import dataclasses

    if info.kind == "video" or config.reference_video is None:
        return info
    with open_source(config.reference_video) as reference:
        ref = reference.info
    return dataclasses.replace(ref, width=info.width, height=info.height, stem=info.stem)


def _writer_options(config: ConvertConfig, writer: str) -> dict:
    if writer == "ffmpeg":
        options = {"codec": config.codec}
        if config.crf is not None:
            options["crf"] = config.crf
        if config.preset is not None:
            options["preset"] = config.preset
        return options
    if writer == "opencv":
        return {"format": config.image_format}
    return {}


def _check_output(writer: Writer, name: str, output: Path, info: SourceInfo,
                  config: ConvertConfig) -> set[int]:
    """Refuse to overwrite earlier results silently; returns frames to skip on resume."""
    from faceforge.errors import OutputError
    from faceforge.plugins.writer.images import existing_indices

    target = getattr(writer, "output_path", None)
    if target is not None and Path(target).exists():
        writer.abort()
        raise OutputError(f"{target} already exists",
                          "delete it or choose another output folder with -o")
    if name == "opencv":
        done = existing_indices(output, info.stem, config.image_format)
        if done and not config.skip_existing:
            writer.abort()
            raise OutputError(f"{output} already holds {len(done)} converted frames",
                              "pass --skip-existing to resume, or choose another -o")
        return done if config.skip_existing else set()
    return set()


def _check_frame_ranges(config: ConvertConfig, info: SourceInfo) -> None:
    """Refuse frame ranges that hold no frame of the source, before anything is written."""
    if not config.frame_ranges or info.frame_count <= 0:
        return
    last = info.frame_count - 1
    if all(start > last for start, _ in config.frame_ranges):
        ranges = " ".join(f"{start}-{end}" for start, end in config.frame_ranges)
        raise UsageError(f"-R {ranges} lies past the last frame of {config.input} "
                         f"(frames 0-{last})", f"choose frames between 0 and {last}")


def convert(config: ConvertConfig, on_event: EventSink | None = None,
            stop: threading.Event | None = None,
            on_frame: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
            ) -> ConvertResult:
    """Convert one video or frame folder. Raises FaceforgeError subclasses.

    on_frame(index, source, converted) sees every frame with a swapped face (RGB arrays, on
    the blend thread), for a front end's live view; it must not keep or change them.
    """
    from faceforge.formats.patch_png import FacePatch
    from faceforge.plugins.writer import open_writer

    emit = on_event or ignore
    swapper = FaceSwapper(config.model_dir, config.swap_model, config.device)
    why = swapper.choose_compute(config.precision, config.cpu_kernels, PREDICT_BATCH_FRAMES)
    emit(Note(why))
    source = open_source(config.input)
    halt = threading.Event()
    writer = None
    blender = None
    try:
        info = source.info
        _check_frame_ranges(config, info)
        faces_for = face_lookup(config, source)
        output = ensure_writable_dir(config.output)
        remove_stale_temporaries(output)  # frames or patches a killed run was writing
        writer_name = config.writer or ("ffmpeg" if info.kind == "video" else "opencv")
        writer_info = _writer_info(config, info)
        writer = open_writer(writer_name, writer_info, output, _writer_options(config,
                                                                             writer_name))
        skip = _check_output(writer, writer_name, output, writer_info, config)
        blend = config.blend_config()
        stage = {"predict": 0.0, "blend": 0.0, "write": 0.0}
        counts = {"frames": 0, "faces": 0}
        started = time.perf_counter()
        pending: list[tuple[Frame, list]] = []

        blender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceforge-blend")
        in_flight: list = []

        def finish(batch: list, predicted: np.ndarray | None, masks: np.ndarray | None,
                   owners: list, t1: float) -> None:
            """Blend and write one predicted batch (on the blend thread, in order). A writer
            that does not use frames gets None, and the blending is skipped."""
            patches: list[list[FacePatch]] = [[] for _ in batch]
            if writer.uses_patches:
                for k, (slot, _, out_m) in enumerate(owners):
                    face = (predicted[k] * 255).round().astype(np.uint8)
                    patches[slot].append(FacePatch(face, out_m, len(patches[slot])))
            images: list[np.ndarray | None] = [None] * len(batch)
            if writer.uses_frame:
                images = [frame.image for frame, _ in batch]
                for k, (slot, landmarks, out_m) in enumerate(owners):
                    images[slot] = blend_face(images[slot], predicted[k],
                                               None if masks is None else masks[k], landmarks,
                                               out_m, config, blend)
            t2 = time.perf_counter()
            if writer.uses_frame:
                stage["blend"] += t2 - t1
            swapped = {slot for slot, _, _ in owners}
            for slot, ((frame, _), image, faces) in enumerate(zip(batch, images, patches,
                                                                  strict=True)):
                if image is not None:
                    if on_frame is not None and slot in swapped:
                        on_frame(frame.index, frame.image, image)
                    image = _scaled(image, config.output_scale)
                writer.write(frame.index, image, faces)
            stage["write"] += time.perf_counter() - t2
            counts["frames"] += len(batch)
            counts["faces"] += len(owners)
            elapsed = time.perf_counter() - started
            rate = counts["frames"] / elapsed if elapsed else 0.0
            left = info.frame_count - counts["frames"]
            emit(Progress(counts["frames"], info.frame_count, "frame", rate,
                          left / rate if rate else None, {"faces_swapped": counts["faces"]}))

        def flush() -> None:
            crops, owners = [], []
            for slot, (frame, faces) in enumerate(pending):
                for landmarks, legacy in faces:
                    in_m, out_m = swapper.matrices(legacy, config.face_scale)
                    crops.append(warp_face(frame.image, in_m, swapper.input_size))
                    owners.append((slot, landmarks, out_m))
            t0 = time.perf_counter()
            predicted, masks = swapper.predict(crops) if crops else (None, None)
            t1 = time.perf_counter()
            stage["predict"] += t1 - t0
            # Blend and write this batch while the next one is decoded and predicted.
            in_flight.append(blender.submit(finish, list(pending), predicted, masks, owners,
                                            t1))
            pending.clear()
            while len(in_flight) > 2 or (in_flight and in_flight[0].done()):
                in_flight.pop(0).result()

        for frame in background_frames(source, halt):
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            if frame.index in skip:
                continue
            if not config.in_ranges(frame.index):
                if config.keep_unchanged:
                    pending.append((frame, []))
                else:
                    continue
            else:
                pending.append((frame, faces_for(frame)))
            if len(pending) >= PREDICT_BATCH_FRAMES:
                flush()
        if pending:
            flush()
        for future in in_flight:
            future.result()
        blender.shutdown()
        if counts["frames"] == 0:
            # Nothing to show for it: a failure, not a video of no frames.
            raise InputError(f"no frames of {config.input} were converted, so nothing was "
                             "written", "check -R/--frame-ranges and --skip-existing")
        writer.close()
        result_path = getattr(writer, "output_path", output)
        writer = None
        elapsed = time.perf_counter() - started
        return ConvertResult(result_path, counts["frames"], counts["faces"], elapsed, stage)
    except KeyboardInterrupt:
        raise Interrupted(f"conversion of {config.input} stopped; no partial video was kept",
                          "run it again (with --skip-existing for image frames to resume)"
                          ) from None
    finally:
        halt.set()
        if blender is not None:
            blender.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.abort()
        source.close()
