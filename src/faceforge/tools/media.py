"""`tools media ...`: Faceswap's effmpeg, done with PyAV through faceforge.io (no ffmpeg
binary): frames out of a video, a video out of images (with another file's audio), what a file
holds, a slice, new audio, a new size, a quarter turn.

Videos are written under a partial name and renamed into place when complete (io.video_out),
so a stopped or killed tool never leaves a half video under the output's name.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.errors import InputError, OutputError, UsageError
from faceforge.events import EventSink
from faceforge.io import open_source
from faceforge.io.files import (
    atomic_write,
    ensure_writable_dir,
    remove_partial,
    remove_stale_partials,
)
from faceforge.io.remux import describe_media, mux_audio
from faceforge.io.source import FrameSource
from faceforge.io.video_out import VideoOutput, has_encoder, is_ffmpeg_error, source_rate
from faceforge.options import option_defaults
from faceforge.options import tools as opts
from faceforge.tools.progress import Counter, interruptible

# The FFmpeg encoder behind each codec and its CRF default, as the ffmpeg writer has them.
_ENCODERS = {"h264": "libx264", "h265": "libx265"}
_DEFAULT_CRF = {"h264": 18, "h265": 23}
_PRESET = "veryfast"
_CONTAINERS = {".mp4": "mp4", ".mkv": "mkv"}


def _container(output: Path) -> str:
    try:
        return _CONTAINERS[output.suffix.lower()]
    except KeyError:
        raise UsageError(f"cannot tell the video format of {output}",
                         "name the output .mp4 or .mkv") from None


def _video_source(path: Path) -> FrameSource:
    source = open_source(path)
    if source.info.kind != "video":
        source.close()
        raise InputError(f"{path} is not a video", "pass a video file")
    return source


def _check_output(input_path: Path, output: Path) -> None:
    if output.resolve() == Path(input_path).resolve():
        raise UsageError(f"{output} is the input", "write to another file")
    if output.exists():  # never replaced: it may be the only copy of something
        raise OutputError(f"{output} already exists", "choose another name, or delete it first")
    ensure_writable_dir(output.parent)
    remove_stale_partials(output)  # what a killed run of the same command left


def _video_output(info: Any, output: Path, codec: str, crf: int | None,
                  rate: Fraction) -> VideoOutput:
    encoder = _ENCODERS[codec]
    if not has_encoder(encoder):
        raise UsageError(f"this FFmpeg build has no {encoder} encoder", "try --codec h264")
    quality = _DEFAULT_CRF[codec] if crf is None else crf
    return VideoOutput(info, output, encoder=encoder, rate=rate, container=_container(output),
                       encoder_options={"crf": str(quality), "preset": _PRESET})


def _encode(video: VideoOutput, frames: Any, total: int, what: str, on_event: EventSink | None,
            stop: threading.Event | None,
            change: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
    """Write every (index, image) of `frames`; the output appears only if all went well."""
    counter = Counter(total, "frame", on_event, stop, what)
    try:
        with interruptible(what, "no output was written"):
            for index, image in frames:
                counter.check_stop("no output was written")
                video.write(index, change(image) if change else image)
                counter.advance()
            video.close()
    except BaseException as exc:
        video.abort()
        if is_ffmpeg_error(exc):
            raise OutputError(f"FFmpeg failed while writing {video.output_path}: {exc}",
                              "try --codec h264, or an .mkv output") from exc
        raise
    return counter.done


@dataclass
class VideoResult:
    output: Path
    frames: int
    audio: str = ""

    def lines(self) -> list[str]:
        return [f"wrote {self.output}: {self.frames} frames" + (f", {self.audio}"
                                                                 if self.audio else "")]


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_INFO)
class InfoConfig:
    input: Path


@dataclass
class InfoResult:
    info: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = []
        for key, value in self.info.items():
            if key == "audio":
                for number, stream in enumerate(value):
                    out.append(f"audio {number}: " + ", ".join(
                        f"{k.replace('_', ' ')} {v}" for k, v in stream.items()))
                if not value:
                    out.append("audio: none")
            elif value is not None:
                out.append(f"{key.replace('_', ' ')}: {value}")
        return out


def info(config: InfoConfig, on_event: EventSink | None = None,
         stop: threading.Event | None = None) -> InfoResult:
    """What a video or image folder holds: frames, rate, size, codec, audio streams."""
    return InfoResult(describe_media(config.input))


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_FRAMES)
class FramesConfig:
    input: Path
    output: Path
    frames: tuple[int, int] | None
    every_n: int
    image_format: str

    def __post_init__(self) -> None:
        self.input, self.output = Path(self.input), Path(self.output)


@dataclass
class FramesResult:
    output: Path
    frames: int

    def lines(self) -> list[str]:
        return [f"wrote {self.frames} frames to {self.output}"]


def frames(config: FramesConfig, on_event: EventSink | None = None,
           stop: threading.Event | None = None) -> FramesResult:
    """A video's frames as images named `<video>_<frame:06d>.<ext>` (0-based frame numbers, as
    extraction names them)."""
    output = ensure_writable_dir(config.output)
    written = 0
    with _video_source(config.input) as source:
        count = source.info.frame_count
        first, last = config.frames or (0, count - 1)
        last = min(last, count - 1)
        wanted = [i for i in range(first, last + 1) if (i - first) % config.every_n == 0]
        skip = set(range(count)) - set(wanted)
        counter = Counter(len(wanted), "frame", on_event, stop, "tools media frames")
        params = ([cv2.IMWRITE_JPEG_QUALITY, 95] if config.image_format == "jpg"
                  else [cv2.IMWRITE_PNG_COMPRESSION, 1])
        with interruptible("tools media frames", "the frames written so far are complete"):
            for frame in source.iter_frames(skip=skip):
                if frame.index > last:
                    break
                counter.check_stop("the frames written so far are complete")
                ok, data = cv2.imencode(f".{config.image_format}",
                                        cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), params)
                if not ok:
                    raise OutputError(f"could not encode frame {frame.index}")
                atomic_write(output / f"{frame.name}.{config.image_format}", data.tobytes(),
                             durable=False)
                written += 1
                counter.advance()
    return FramesResult(output, written)


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_VIDEO)
class VideoConfig:
    input: Path
    output: Path
    fps: float
    reference: Path | None
    codec: str
    crf: int | None

    def __post_init__(self) -> None:
        self.input, self.output = Path(self.input), Path(self.output)
        self.reference = None if self.reference in (None, "") else Path(self.reference)
        if not 0 < self.fps <= 1000:
            raise UsageError(f"--fps {self.fps} is out of range", "try 25 or 30")


def video(config: VideoConfig, on_event: EventSink | None = None,
          stop: threading.Event | None = None) -> VideoResult:
    """A video from a folder of images (natural order; images of another size are resized to
    the first's), with the audio of --reference if given."""
    _check_output(config.input, config.output)
    _container(config.output)
    rate = Fraction(config.fps).limit_denominator(1001)
    with open_source(config.input) as source:
        if source.info.kind != "images":
            raise InputError(f"{config.input} is not a folder of images",
                             "pass the folder `tools media frames` or convert wrote")
        size = (source.info.width, source.info.height)

        def fitted(image: np.ndarray) -> np.ndarray:
            if (image.shape[1], image.shape[0]) == size:
                return image
            return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

        target = config.output
        if config.reference is not None:  # the picture first, under a name of its own
            target = config.output.with_name(
                f"{config.output.stem}.partial-{os.getpid()}-picture{config.output.suffix}")
        output = _video_output(source.info, target, config.codec, config.crf, rate)
        frames_written = _encode(output, ((f.index, f.image) for f in source.iter_frames()),
                                 source.info.frame_count, "tools media video", on_event, stop,
                                 fitted)
    if config.reference is None:
        return VideoResult(config.output, frames_written)
    try:
        with interruptible("tools media video", "no output was written"):
            mux_audio(target, config.reference, config.output, _container(config.output))
    finally:
        remove_partial(target)
    return VideoResult(config.output, frames_written, f"audio from {config.reference}")


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_SLICE)
class SliceConfig:
    input: Path
    output: Path
    frames: tuple[int, int]
    codec: str
    crf: int | None

    def __post_init__(self) -> None:
        self.input, self.output = Path(self.input), Path(self.output)


def slice_video(config: SliceConfig, on_event: EventSink | None = None,
                stop: threading.Event | None = None) -> VideoResult:
    """Frames START-END of a video (re-encoded, so the cut is exact to the frame) with the
    audio of exactly those frames."""
    _check_output(config.input, config.output)
    with _video_source(config.input) as source:
        count = source.info.frame_count
        first, last = config.frames
        if first >= count:
            raise UsageError(f"--frames {first}-{last}: the video has {count} frames",
                             f"use frames 0-{count - 1}")
        last = min(last, count - 1)
        skip = set(range(first)) | set(range(last + 1, count))

        def clip() -> Any:
            for frame in source.iter_frames(skip=skip):
                if frame.index > last:
                    return
                yield frame.index, frame.image

        output = _video_output(source.info, config.output, config.codec, config.crf,
                               source_rate(source.info, None))
        written = _encode(output, clip(), last - first + 1, "tools media slice", on_event,
                          stop)
    return VideoResult(config.output, written,
                       "with its audio" if source.info.has_audio else "")


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_MUX_AUDIO)
class MuxAudioConfig:
    input: Path
    reference: Path
    output: Path

    def __post_init__(self) -> None:
        self.input, self.reference, self.output = (Path(self.input), Path(self.reference),
                                                   Path(self.output))


def add_audio(config: MuxAudioConfig, on_event: EventSink | None = None,
                   stop: threading.Event | None = None) -> VideoResult:
    """The video's picture, untouched, with the audio of another file cut to its length."""
    _check_output(config.input, config.output)
    with _video_source(config.input) as source:
        count = source.info.frame_count
    with interruptible("tools media mux-audio", "no output was written"):
        mux_audio(config.input, config.reference, config.output, _container(config.output))
    return VideoResult(config.output, count, f"audio from {config.reference}")


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_RESCALE)
class RescaleConfig:
    input: Path
    output: Path
    scale: str
    codec: str
    crf: int | None

    def __post_init__(self) -> None:
        self.input, self.output = Path(self.input), Path(self.output)


def new_size(scale: str, width: int, height: int) -> tuple[int, int]:
    """`50%`, `1280x720`, `1280x-1` or `-1x720` for a frame of width x height; even sizes."""
    text = scale.strip().lower()
    if text.endswith("%"):
        try:
            factor = float(text[:-1]) / 100
        except ValueError:
            factor = 0
        if not 0 < factor <= 10:
            raise UsageError(f"--scale {scale} is not a usable percentage", "try 50%")
        size = (width * factor, height * factor)
    else:
        match = re.fullmatch(r"(-1|\d+)x(-1|\d+)", text)
        if match is None or match.groups() == ("-1", "-1"):
            raise UsageError(f"--scale {scale} is not WIDTHxHEIGHT or a percentage",
                             "try 1280x720, 640x-1 or 50%")
        new_w, new_h = (int(v) for v in match.groups())
        if new_w == -1:
            new_w = round(width * new_h / height)
        if new_h == -1:
            new_h = round(height * new_w / width)
        size = (new_w, new_h)
    new_w, new_h = (max(2, int(round(v / 2)) * 2) for v in size)
    if max(new_w, new_h) > 8192:
        raise UsageError(f"--scale {scale} makes {new_w}x{new_h} frames", "choose smaller")
    return new_w, new_h


def rescale(config: RescaleConfig, on_event: EventSink | None = None,
            stop: threading.Event | None = None) -> VideoResult:
    """The video at another size, with its audio."""
    _check_output(config.input, config.output)
    with _video_source(config.input) as source:
        size = new_size(config.scale, source.info.width, source.info.height)
        shrink = size[0] < source.info.width

        def resized(image: np.ndarray) -> np.ndarray:
            return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink
                              else cv2.INTER_CUBIC)

        output = _video_output(source.info, config.output, config.codec, config.crf,
                               source_rate(source.info, None))
        written = _encode(output, ((f.index, f.image) for f in source.iter_frames()),
                          source.info.frame_count, "tools media rescale", on_event, stop,
                          resized)
    return VideoResult(config.output, written, f"{size[0]}x{size[1]}")


# --------------------------------------------------------------------------------------


@dataclass
@option_defaults(opts.MEDIA_ROTATE)
class RotateConfig:
    input: Path
    output: Path
    degrees: str
    codec: str
    crf: int | None

    def __post_init__(self) -> None:
        self.input, self.output = Path(self.input), Path(self.output)


_TURNS = {"90": cv2.ROTATE_90_CLOCKWISE, "180": cv2.ROTATE_180,
          "270": cv2.ROTATE_90_COUNTERCLOCKWISE}


def rotate(config: RotateConfig, on_event: EventSink | None = None,
           stop: threading.Event | None = None) -> VideoResult:
    """The video turned clockwise by 90, 180 or 270 degrees (the pixels, not a tag), with its
    audio."""
    _check_output(config.input, config.output)
    turn = _TURNS[str(config.degrees)]
    with _video_source(config.input) as source:
        output = _video_output(source.info, config.output, config.codec, config.crf,
                               source_rate(source.info, None))
        written = _encode(output, ((f.index, f.image) for f in source.iter_frames()),
                          source.info.frame_count, "tools media rotate", on_event, stop,
                          lambda image: cv2.rotate(image, turn))
    return VideoResult(config.output, written, f"turned {config.degrees} degrees")
