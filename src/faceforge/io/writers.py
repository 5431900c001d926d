"""Output writers for `faceforge convert`: a finished video with the source's audio (PyAV),
image sequences (OpenCV), animated GIFs (Pillow) and face patches with their matrices.

Every writer takes frames in increasing index order and never leaves a partial file under a
final name: videos and GIFs are written to `<name>.partial-<pid>.<ext>` and renamed by
`close()`; each image of a sequence is written atomically. numpy, PyAV, OpenCV and Pillow are
imported when a writer is used, so importing this module (and `faceforge.io`) stays light.

Encode-only cost of the `ffmpeg` writer (libx264, CRF 18, yuv420p, RGB-to-YUV included; 2-core
VM shared with another job; `benchmarks/encode_speed.py` has the full table), frames/s with
CPU ms per frame in brackets, encoder threads auto:

    preset       640x360          1280x720
    ultrafast    267 ( 3.5)       78 ( 9.2)
    veryfast     149 ( 6.7)       35 (28.1)
    fast          83 (11.9)       18 (53.8)
    medium        76 (13.1)       17 (59.8)

A 15 frames/s conversion on 2 cores has 133 CPU-ms per frame in all. `veryfast`, the default,
takes about 5 % of that at 640x360 and 20 % at 1280x720; `medium` would take 42 % at 720p for
files barely smaller at CRF 18.
"""

from __future__ import annotations

import errno
import heapq
import json
import logging
import os
import re
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from faceforge.errors import OutputError, UsageError
from faceforge.io.files import atomic_write, ensure_writable_dir, output_error
from faceforge.io.source import SourceInfo
from faceforge.plugins.registry import Registry

if TYPE_CHECKING:  # only for annotations: keep `import faceforge.io` free of numpy and PyAV
    import av.container
    import numpy as np

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# The contract


def _check_options(writer: str, options_class: type, given: dict[str, Any]) -> Any:
    """Build an options dataclass, rejecting unknown names with the list of valid ones."""
    valid = [field.name for field in fields(options_class)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise UsageError(
            f"unknown option(s) for the {writer} writer: {', '.join(unknown)}",
            f"valid options are: {', '.join(valid)}",
        )
    return options_class(**given)


def _choice(what: str, value: object, valid: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in valid:
        raise UsageError(f"unknown {what} {value!r}", f"choose one of: {', '.join(valid)}")
    return value.lower()


def _whole_number(what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(
            f"{what} must be a whole number from {low} to {high}, got {value!r}",
            f"give {what} between {low} and {high}",
        )
    return value


def _partial_name(final: Path) -> Path:
    """`clip_converted.mp4` -> `clip_converted.partial-<pid>.mp4`: same folder (so the rename
    is atomic), same suffix (so players and FFmpeg still know the format), never the final name.
    """
    return final.with_name(f"{final.stem}.partial-{os.getpid()}{final.suffix}")


def _is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)


class FrameWriter(ABC):
    """Writes converted frames of one source to `out_dir`.

    Use it as a context manager: leaving the block normally calls `close()` (finalise the output
    under its final name), leaving it with an exception calls `abort()` (remove partial output).
    `write(index, image_rgb)` takes H x W x 3 uint8 RGB frames in increasing index order; the
    frames may skip indices (frame ranges without keep-unchanged), and each writer documents
    what it does then. All frames of one output must have the same size.
    """

    name: ClassVar[str] = ""
    #: "frames" for writers fed by `write`, "patches" for the patch writer (`write_patches`)
    accepts: ClassVar[str] = "frames"
    options_class: ClassVar[type]

    def __init__(
        self, info: SourceInfo, out_dir: str | os.PathLike[str], options: Any = None
    ) -> None:
        self.info = info
        self.out_dir = ensure_writable_dir(out_dir)
        if options is None:
            options = self.options_class()
        elif isinstance(options, dict):
            options = _check_options(self.name, self.options_class, options)
        self.options = options
        self.frames_written = 0
        self._last_index = -1
        self._finished = False

    # -- the contract -----------------------------------------------------------------------

    def write(self, index: int, image_rgb: np.ndarray) -> None:
        """Add the frame with source index `index` (0-based) to the output."""
        if self._finished:
            raise ValueError(f"{self.name} writer for {self.info.stem} is already closed")
        if index <= self._last_index:
            raise ValueError(f"frame {index} arrived after frame {self._last_index}")
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype.name != "uint8":
            raise ValueError(
                f"expected an H x W x 3 uint8 RGB frame, got {image_rgb.dtype} {image_rgb.shape}"
            )
        try:
            self._write(index, image_rgb)
        except BaseException as exc:
            self._fail("writing", exc)
            raise
        self._last_index = index
        self.frames_written += 1

    def close(self) -> None:
        """Finish the output and give it its final name. Safe to call twice."""
        if self._finished:
            return
        try:
            self._close()
        except BaseException as exc:
            self._fail("finishing", exc)
            raise
        self._finished = True

    def abort(self) -> None:
        """Stop and remove whatever is not complete. Safe to call twice, and after close()."""
        if self._finished:
            return
        self._finished = True
        self._abort()

    def describe_output(self) -> str:
        """The output for messages: a file or a file name pattern."""
        return str(self.out_dir)

    def _fail(self, action: str, exc: BaseException) -> None:
        """Remove the partial output, then raise OS errors as `OutputError` (the caller
        re-raises anything else, Ctrl-C included, as it is)."""
        self.abort()
        if _is_disk_full(exc):
            raise OutputError(
                f"disk full while {action} {self.describe_output()}; partial output removed",
                hint="free some space on that disk or choose an output folder on another disk",
            ) from exc
        if isinstance(exc, OSError):
            raise output_error(action, Path(self.describe_output()), exc) from exc

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- for subclasses ---------------------------------------------------------------------

    @abstractmethod
    def _write(self, index: int, image_rgb: np.ndarray) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


WRITERS: Registry[type[FrameWriter]] = Registry("writer")


def open_writer(
    name: str,
    info: SourceInfo,
    out_dir: str | os.PathLike[str],
    options: dict[str, Any] | None = None,
) -> FrameWriter:
    """Build the registered writer `name` for the source `info`, writing into `out_dir`.

    Unknown writer names and unknown or invalid options raise `UsageError` naming the valid
    ones; an output folder that cannot be created or written raises `OutputError`.
    """
    return WRITERS.get(name)(info, out_dir, options)


def _unlink_quietly(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove partial output %s: %s", path, exc)


# ---------------------------------------------------------------------------------------
# Video through the FFmpeg libraries


# Audio codecs each container takes as they are; anything else is re-encoded to AAC.
_COPYABLE_AUDIO = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    "mkv": frozenset({
        "aac", "mp3", "mp2", "ac3", "eac3", "dts", "alac", "opus", "flac", "vorbis",
        "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le",
    }),
}
_CONTAINER_FORMATS = {"mp4": "mp4", "mkv": "matroska"}
_ENCODERS = {"h264": "libx264", "h265": "libx265"}
_DEFAULT_CRF = {"h264": 18, "h265": 23}
_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow",
)
_PIXEL_FORMATS = ("yuv420p", "yuv422p", "yuv444p")
_AUDIO_BIT_RATE = 192_000  # a re-encode should not be audibly worse than a typical source
_IMAGE_SOURCE_FPS = 25.0  # image folders have no rate; FFmpeg reads image sequences at 25 too


@dataclass(frozen=True)
class FFmpegOptions:
    """Options of the `ffmpeg` writer.

    crf None means the codec's default here: 18 for h264, 23 for h265 (x265's own default
    is 28). On tears_of_steel_clip at 640x360, veryfast, those give 38.7 dB (h264) and 36.2 dB
    (h265) mean RGB PSNR, the h265 file 30 % smaller. threads 0 lets x264/x265 choose: they then
    encode in their own threads, so `write()` returns while the frame is still being encoded
    and the caller's next frame overlaps it, for the same CPU time. `fps` overrides the
    source's frame rate (image folders have none, and get 25).
    """

    codec: str = "h264"
    crf: int | None = None
    preset: str = "veryfast"
    pixel_format: str = "yuv420p"
    container: str = "mp4"
    threads: int = 0
    fps: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "codec", _choice("codec", self.codec, tuple(_ENCODERS)))
        object.__setattr__(self, "preset", _choice("preset", self.preset, _PRESETS))
        object.__setattr__(
            self, "pixel_format", _choice("pixel format", self.pixel_format, _PIXEL_FORMATS)
        )
        object.__setattr__(
            self, "container", _choice("container", self.container, tuple(_CONTAINER_FORMATS))
        )
        if self.crf is not None:
            _whole_number("crf", self.crf, 0, 51)
        _whole_number("threads", self.threads, 0, 64)
        if self.fps is not None and not (
            isinstance(self.fps, (int, float)) and 0 < self.fps <= 1000
        ):
            raise UsageError(f"fps must be a number above 0, got {self.fps!r}", "try 25 or 30")

    @property
    def effective_crf(self) -> int:
        return _DEFAULT_CRF[self.codec] if self.crf is None else self.crf


def _source_rate(info: SourceInfo, override: float | None) -> Fraction:
    """The constant output frame rate as an exact fraction.

    The stream's own average rate is read when possible, because `info.fps` is a float and
    30000/1001 must stay 30000/1001 for the output duration to match. Denominators are kept at
    or below 1001: variable-rate sources report averages like 519168/19667 that some players
    choke on, and the rounding changes the duration by far less than a frame.
    """
    if override is not None:
        return Fraction(override).limit_denominator(1001)
    rate: Fraction | None = None
    if info.kind == "video":
        import av

        try:
            with av.open(str(info.path), metadata_errors="ignore") as container:
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
        except (OSError, IndexError, av.error.FFmpegError):
            rate = None
    if not rate and info.fps:
        rate = Fraction(info.fps)
    if not rate:
        rate = Fraction(_IMAGE_SOURCE_FPS)
    return Fraction(rate).limit_denominator(1001)


def _first_frame_time(path: Path) -> float:
    """Presentation time (s) of the first video frame: where frame 0 sits on the source's
    clock, which the audio is measured against (it is often not 0: edit lists, cut streams)."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            return float(frame.time or 0.0)
    return 0.0


@WRITERS.register("ffmpeg")
class FFmpegWriter(FrameWriter):
    """H.264/H.265 video in MP4 or MKV at the source's constant frame rate, with its audio.

    Output: `<out_dir>/<stem>_converted.<container>`. Frames are encoded as they arrive into
    `<name>.partial-<pid>.<ext>` (a source without audio is finished right there). With audio,
    `close()` then muxes that video stream (packets copied, not re-encoded) with the source's
    audio into a second partial file, because only then is it known which frames were written:

    - every frame written: the audio packets are copied unchanged when the container accepts
      the codec (AAC, MP3, ... into MP4), else re-encoded to AAC;
    - a frame range, or frames skipped: output frames are laid back to back (gaps closed up),
      and the audio of exactly the written frames' time spans is cut out, joined in the same
      order and re-encoded to AAC, so it stays in sync; source time without audio becomes
      silence.

    A variable-frame-rate source comes out at its average rate: same frame count and length,
    with frames evenly spaced. Only the first audio stream is used. An existing file under the
    final name is replaced by `close()`.
    """

    name = "ffmpeg"
    options_class = FFmpegOptions

    def __init__(
        self, info: SourceInfo, out_dir: str | os.PathLike[str], options: Any = None
    ) -> None:
        super().__init__(info, out_dir, options)
        opts: FFmpegOptions = self.options
        self.encoder_name = _ENCODERS[opts.codec]
        self._check_encoder()
        self.rate = _source_rate(info, opts.fps)
        self.output_path = self.out_dir / f"{info.stem}_converted.{opts.container}"
        self._with_audio = info.kind == "video" and info.has_audio
        # With audio, the encoded video is muxed again by close(); that first file is always
        # MP4, whose demuxer returns every packet's decoding time (Matroska's leaves some out,
        # and they are needed to copy the packets).
        self._video_format = "mp4" if self._with_audio else opts.container
        self._video_path = _partial_name(self.output_path.with_suffix(f".{self._video_format}"))
        self._muxed_path: Path | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: Any = None
        self._rgb_to_yuv: Any = None
        self._size: tuple[int, int] | None = None  # (width, height) of the frames written
        # Runs of consecutive source indices written, [first, end), in output order.
        self.runs: list[list[int]] = []

    def describe_output(self) -> str:
        return str(self.output_path)

    def _fail(self, action: str, exc: BaseException) -> None:
        import av

        super()._fail(action, exc)
        if isinstance(exc, av.error.FFmpegError):
            raise OutputError(
                f"FFmpeg failed while {action} {self.output_path}: {exc}; partial output removed",
                hint="try another codec, pixel format or container (mkv takes the most)",
            ) from exc

    def _check_encoder(self) -> None:
        import av

        try:
            av.codec.Codec(self.encoder_name, "w")
        except (av.codec.codec.UnknownCodecError, av.error.FFmpegError):
            available = [
                codec
                for codec, encoder in _ENCODERS.items()
                if encoder in av.codecs_available
            ]
            raise UsageError(
                f"this FFmpeg build has no {self.encoder_name} encoder for codec "
                f"{self.options.codec!r}",
                f"choose one of: {', '.join(available) or 'none (install PyAV wheels from PyPI)'}",
            ) from None

    def _open_video(self, width: int, height: int) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        opts: FFmpegOptions = self.options
        container_options = {}
        if opts.container == "mp4" and not self._with_audio:
            # Index first, so the file starts playing before it is fully downloaded. With audio
            # the second (muxing) pass does this instead.
            container_options["movflags"] = "+faststart"
        container = av.open(
            str(self._video_path),
            mode="w",
            format=_CONTAINER_FORMATS[self._video_format],
            options=container_options,
        )
        self._container = container
        stream = container.add_stream(self.encoder_name, rate=self.rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = opts.pixel_format
        # One tick per frame: frame k is shown at k / rate, exactly, so the count, the rate and
        # the duration all come out equal to the source's.
        stream.codec_context.time_base = 1 / self.rate
        stream.codec_context.thread_count = opts.threads
        # Converted with the BT.709 matrix and tagged so, so players and our own reader turn
        # it back into the same RGB (untagged YUV is read as BT.601 at SD and 709 at HD).
        stream.codec_context.colorspace = 1
        stream.codec_context.color_primaries = 1
        stream.codec_context.color_trc = 1
        stream.codec_context.color_range = 1
        encoder_options = {"crf": str(opts.effective_crf), "preset": opts.preset}
        if opts.codec == "h265":
            encoder_options["x265-params"] = "log-level=error"
            # Apple players only play HEVC in MP4 tagged hvc1.
            stream.codec_context.codec_tag = "hvc1"
        stream.options = encoder_options
        self._stream = stream
        self._rgb_to_yuv = VideoReformatter()

    def _even_size(self, image_rgb: np.ndarray) -> np.ndarray:
        # 4:2:0 and 4:2:2 chroma need even sizes; repeat the last row/column rather than
        # failing on a frame scaled to an odd size.
        import numpy as np

        if self.options.pixel_format == "yuv444p":
            return image_rgb
        height, width = image_rgb.shape[:2]
        pad_rows, pad_cols = height % 2, width % 2
        if pad_rows or pad_cols:
            return np.pad(image_rgb, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="edge")
        return image_rgb

    def _write(self, index: int, image_rgb: np.ndarray) -> None:
        import av
        import numpy as np

        size = (image_rgb.shape[1], image_rgb.shape[0])
        if self._size is None:
            self._size = size
            image = self._even_size(image_rgb)
            self._open_video(image.shape[1], image.shape[0])
        elif size != self._size:
            raise ValueError(f"frame {index} is {size[0]}x{size[1]}, earlier frames were "
                             f"{self._size[0]}x{self._size[1]}")
        image = np.ascontiguousarray(self._even_size(image_rgb))
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame = self._rgb_to_yuv.reformat(
            frame,
            format=self.options.pixel_format,
            dst_colorspace="ITU709",
            dst_color_range="MPEG",
        )
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        if self.runs and self.runs[-1][1] == index:
            self.runs[-1][1] = index + 1
        else:
            self.runs.append([index, index + 1])

    def _close(self) -> None:
        if self._container is None:
            log.warning("no frames were written for %s; no video made", self.info.path)
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
        if self._with_audio:
            self._muxed_path = self._video_path.with_name(
                f"{self.output_path.stem}.partial-{os.getpid()}-muxed{self.output_path.suffix}"
            )
            self._mux_audio(self._video_path, self._muxed_path)
            os.replace(self._muxed_path, self.output_path)
            self._muxed_path = None
            _unlink_quietly(self._video_path)
        else:
            os.replace(self._video_path, self.output_path)

    def _abort(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - already failing; removing the file matters more
                log.debug("closing %s after a failure failed too", self._video_path)
            self._container = None
        _unlink_quietly(self._video_path)
        _unlink_quietly(self._muxed_path)

    # -- audio --------------------------------------------------------------------------------

    @property
    def audio_is_copied(self) -> bool:
        """Whether close() copies the audio packets unchanged (every frame was written)."""
        return self.runs == [[0, self.info.frame_count]]

    def _mux_audio(self, video_path: Path, muxed_path: Path) -> None:
        import av

        opts: FFmpegOptions = self.options
        shift_s = _first_frame_time(self.info.path)
        with (
            av.open(str(self.info.path), metadata_errors="ignore") as source,
            av.open(str(video_path)) as video,
        ):
            audio_in = source.streams.audio[0]
            container_options = {"movflags": "+faststart"} if opts.container == "mp4" else {}
            with av.open(
                str(muxed_path),
                mode="w",
                format=_CONTAINER_FORMATS[opts.container],
                options=container_options,
            ) as output:
                video_in = video.streams.video[0]
                video_out = output.add_stream_from_template(video_in)
                # The codec's own name: the decoder's may differ (mp3float for mp3).
                audio_codec = audio_in.codec_context.codec.canonical_name
                copy = self.audio_is_copied and audio_codec in _COPYABLE_AUDIO[opts.container]
                if copy:
                    audio_out = output.add_stream_from_template(audio_in)
                    audio_packets = _copied_audio(
                        source, audio_in, shift_s, preroll=opts.container == "mp4"
                    )
                else:
                    audio_out, audio_packets = self._cut_audio(source, audio_in, output, shift_s)
                log.info(
                    "%s: audio %s", self.output_path.name,
                    "copied" if copy else f"re-encoded to AAC ({len(self.runs)} span(s))",
                )
                video_packets = _video_packets(video, video_in)
                # Interleave by time, as a player reads them; writing all video before the
                # audio would make players seek back and forth across the whole file.
                for packet, stream in heapq.merge(
                    ((packet, video_out) for packet in video_packets),
                    ((packet, audio_out) for packet in audio_packets),
                    key=lambda item: _packet_time(item[0]),
                ):
                    packet.stream = stream
                    output.mux(packet)

    def _cut_audio(
        self,
        source: av.container.InputContainer,
        audio_in: Any,
        output: av.container.OutputContainer,
        shift_s: float,
    ) -> tuple[Any, Iterator[Any]]:
        """Add an AAC stream to `output` and return it with a generator of its packets: the
        source audio of the written frames' spans, in output order."""
        import av

        rate = audio_in.codec_context.sample_rate or 48_000
        layout = audio_in.codec_context.layout.name if audio_in.codec_context.layout else "stereo"
        stream = output.add_stream("aac", rate=rate)
        stream.codec_context.layout = layout
        stream.codec_context.format = "fltp"
        stream.codec_context.bit_rate = _AUDIO_BIT_RATE
        stream.codec_context.time_base = Fraction(1, rate)
        spans: list[tuple[float, float, int]] = []  # (source start s, source end s, output start)
        out_frames = 0
        for first, end in self.runs:
            spans.append((shift_s + first / self.rate, shift_s + end / self.rate, out_frames))
            out_frames += end - first
        total_samples = round(out_frames / self.rate * rate)

        def packets() -> Iterator[Any]:
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            joined = _AudioJoiner(stream, rate, layout, total_samples)
            # Source time of the next resampled sample: chunks are contiguous, and counting
            # them does not depend on the resampler passing timestamps through.
            clock_s: float | None = None
            try:
                for frame in source.decode(audio_in):
                    if clock_s is None:
                        if frame.time is None:
                            continue
                        clock_s = float(frame.time)
                    for chunk in resampler.resample(frame):
                        yield from joined.add_chunk(chunk.to_ndarray(), clock_s, spans, self.rate)
                        clock_s += chunk.samples / rate
                    if clock_s > spans[-1][1]:
                        break  # past the last span: the rest of the file is not needed
                for chunk in resampler.resample(None):
                    if clock_s is not None:
                        yield from joined.add_chunk(chunk.to_ndarray(), clock_s, spans, self.rate)
            except av.error.FFmpegError as exc:
                # Damaged audio should not cost the user a finished video: keep what decoded
                # and fill the rest with silence.
                log.warning("%s: audio stops early (%s); the rest is silent", self.info.path, exc)
            yield from joined.finish()

        return stream, packets()


def _packet_time(packet: Any) -> float:
    timestamp = packet.dts if packet.dts is not None else packet.pts
    return float(timestamp * packet.time_base) if timestamp is not None else 0.0


def _video_packets(container: av.container.InputContainer, stream: Any) -> Iterator[Any]:
    for packet in container.demux(stream):
        if packet.size:  # not the demuxer's empty flush packet
            yield packet


def _copied_audio(
    source: av.container.InputContainer, stream: Any, shift_s: float, preroll: bool
) -> Iterator[Any]:
    """The source's audio packets, unchanged but moved so that the first video frame is at 0.

    With `preroll`, one packet before the video's start is kept: AAC and MP3 decoders need the
    packet before to decode the next one cleanly (encoder priming, overlapping windows), and
    the MP4 muxer hides the part before 0 with an edit list. Matroska has no edit lists: its
    muxer would move every stream later instead, so there nothing before 0 is kept.
    """
    shift = round(shift_s / stream.time_base) if stream.time_base else 0
    for packet in source.demux(stream):
        if not packet.size:
            continue
        duration = packet.duration or 0
        start = packet.pts if packet.pts is not None else packet.dts
        if start is not None and start + (2 if preroll else 1) * duration <= shift:
            continue
        if not preroll and start is not None and start < shift:
            continue
        if shift:
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
        yield packet


class _AudioJoiner:
    """Lays source audio chunks onto the output's sample timeline and encodes it.

    Chunks are cut to the spans of written frames and placed where those frames now are.
    Output time with no source audio is silence; overlaps from rounding are dropped; the
    total is exactly the video's length.
    """

    def __init__(self, stream: Any, rate: int, layout: str, total_samples: int) -> None:
        self.stream = stream
        self.rate = rate
        self.layout = layout
        self.total = total_samples
        self.position = 0  # output samples handed to the encoder so far
        self._span_ends: list[float] | None = None

    def _encode(self, samples: np.ndarray) -> Iterator[Any]:
        import av
        import numpy as np

        samples = samples[:, : max(0, self.total - self.position)]
        if samples.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.rate
        frame.pts = self.position
        frame.time_base = Fraction(1, self.rate)
        self.position += samples.shape[1]
        yield from self.stream.encode(frame)

    def _silence(self, count: int, channels: int) -> Iterator[Any]:
        import numpy as np

        while count > 0:
            step = min(count, self.rate)  # a second at a time keeps memory flat
            yield from self._encode(np.zeros((channels, step), np.float32))
            count -= step

    def add_chunk(
        self,
        samples: np.ndarray,
        start_s: float,
        spans: list[tuple[float, float, int]],
        video_rate: Fraction,
    ) -> Iterator[Any]:
        """Place the parts of `samples` (channels x n, first one at source time `start_s`)
        that fall in the spans of written frames; yield the packets that makes."""
        count = samples.shape[1]
        end_s = start_s + count / self.rate
        if self._span_ends is None:
            self._span_ends = [span[1] for span in spans]
        # Spans are in source order; start at the first one that ends after this chunk starts
        # (frames skipped one by one make thousands of spans).
        for number in range(bisect_right(self._span_ends, start_s), len(spans)):
            span_start, span_end, out_frame = spans[number]
            if span_start >= end_s:
                break
            first = max(0, round((span_start - start_s) * self.rate))
            last = min(count, round((span_end - start_s) * self.rate))
            if last <= first:
                continue
            out_at = round(
                (out_frame / video_rate + (start_s + first / self.rate - span_start)) * self.rate
            )
            piece = samples[:, first:last]
            if out_at > self.position:
                yield from self._silence(out_at - self.position, samples.shape[0])
            elif out_at < self.position:
                piece = piece[:, self.position - out_at:]
            yield from self._encode(piece)

    def finish(self) -> Iterator[Any]:
        channels = self.stream.codec_context.layout.nb_channels
        yield from self._silence(self.total - self.position, channels)
        yield from self.stream.encode(None)


# ---------------------------------------------------------------------------------------
# Image sequences


_IMAGE_FORMATS = ("png", "jpg", "webp", "tif")


@dataclass(frozen=True)
class ImageSequenceOptions:
    """Options of the `opencv` writer: file format and its quality settings.

    png_compression 0-9 (3 is Faceswap's default: fast, a little larger); jpg_quality and
    webp_quality 1-100 (webp 101 is lossless).
    """

    format: str = "png"
    png_compression: int = 3
    jpg_quality: int = 95
    webp_quality: int = 95

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", _choice("image format", self.format, _IMAGE_FORMATS))
        _whole_number("png_compression", self.png_compression, 0, 9)
        _whole_number("jpg_quality", self.jpg_quality, 1, 100)
        _whole_number("webp_quality", self.webp_quality, 1, 101)


def frame_filename(stem: str, index: int, fmt: str) -> str:
    """`<stem>_<index:06d>.<fmt>`, the 0-based frame index as in `Frame.name`."""
    return f"{stem}_{index:06d}.{fmt}"


def existing_indices(out_dir: str | os.PathLike[str], stem: str, fmt: str) -> set[int]:
    """Indices of the frames already written as `<stem>_<index>.<fmt>` in `out_dir`, for
    `--skip-existing`: every such file is complete, because each was written atomically."""
    folder = Path(out_dir)
    pattern = re.compile(rf"^{re.escape(stem)}_(\d{{6,}})\.{re.escape(fmt.lower())}$")
    try:
        names = [entry.name for entry in folder.iterdir()]
    except FileNotFoundError:
        return set()
    found = set()
    for name in names:
        match = pattern.match(name)
        if match is not None:
            found.add(int(match[1]))
    return found


@WRITERS.register("opencv")
class ImageSequenceWriter(FrameWriter):
    """One image per frame, `<out_dir>/<stem>_<index:06d>.<format>`, each written atomically.

    Only the frames given are written, under their source index, so skipped frames leave gaps
    in the numbering. `abort()` keeps the images already written: each is complete, and
    `existing_indices` lets a rerun carry on after them.
    """

    name = "opencv"
    options_class = ImageSequenceOptions

    def describe_output(self) -> str:
        return str(self.out_dir / frame_filename(self.info.stem, 0, self.options.format))

    def _encode_params(self) -> list[int]:
        import cv2

        opts: ImageSequenceOptions = self.options
        if opts.format == "png":
            return [cv2.IMWRITE_PNG_COMPRESSION, opts.png_compression]
        if opts.format == "jpg":
            return [cv2.IMWRITE_JPEG_QUALITY, opts.jpg_quality]
        if opts.format == "webp":
            return [cv2.IMWRITE_WEBP_QUALITY, opts.webp_quality]
        return []

    def _write(self, index: int, image_rgb: np.ndarray) -> None:
        import cv2

        fmt = self.options.format
        ok, encoded = cv2.imencode(
            f".{fmt}", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), self._encode_params()
        )
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise OutputError(f"OpenCV could not encode frame {index} as {fmt}")
        atomic_write(self.out_dir / frame_filename(self.info.stem, index, fmt), encoded)

    def _close(self) -> None:
        """Every image is final as soon as it is written."""

    def _abort(self) -> None:
        """Nothing partial to remove (see the class docstring)."""


# ---------------------------------------------------------------------------------------
# GIF


@dataclass(frozen=True)
class GifOptions:
    """Options of the `gif` writer: rate (None: the source's), loops (0: forever), colours."""

    fps: float | None = None
    loop: int = 0
    palette_size: int = 256

    def __post_init__(self) -> None:
        if self.fps is not None and not (
            isinstance(self.fps, (int, float)) and 0 < self.fps <= 100
        ):
            raise UsageError(f"gif fps must be above 0 and at most 100, got {self.fps!r}",
                             "GIF timing has 10 ms steps; try 10 to 30")
        _whole_number("loop", self.loop, 0, 65535)
        _whole_number("palette_size", self.palette_size, 2, 256)


@WRITERS.register("gif")
class GifWriter(FrameWriter):
    """An animated GIF, `<out_dir>/<stem>_converted.gif`, at the source's frame rate.

    Frames are reduced to a palette as they arrive (a byte per pixel in memory) and the file is
    written by `close()` to a partial name, then renamed. Skipped frames are left out and the
    rest play back to back. GIF delays come in 10 ms steps, so per-frame delays alternate
    (30 fps: 30, 30, 40 ms...) to keep the total length right. Pillow merges a frame identical
    to the one before into it (longer delay), so a still stretch counts as one frame.
    """

    name = "gif"
    options_class = GifOptions

    def __init__(
        self, info: SourceInfo, out_dir: str | os.PathLike[str], options: Any = None
    ) -> None:
        super().__init__(info, out_dir, options)
        self.output_path = self.out_dir / f"{info.stem}_converted.gif"
        self._partial = _partial_name(self.output_path)
        self.fps = float(self.options.fps or info.fps or _IMAGE_SOURCE_FPS)
        self._frames: list[Any] = []

    def describe_output(self) -> str:
        return str(self.output_path)

    def _write(self, index: int, image_rgb: np.ndarray) -> None:
        from PIL import Image

        if self._frames and self._frames[0].size != (image_rgb.shape[1], image_rgb.shape[0]):
            raise ValueError(f"frame {index} differs in size from the first frame")
        image = Image.fromarray(image_rgb, "RGB")
        self._frames.append(
            image.quantize(self.options.palette_size, method=Image.Quantize.FASTOCTREE)
        )

    def delays_ms(self, count: int) -> list[int]:
        """Per-frame delays in whole centiseconds whose running sum tracks frame / fps."""
        ticks = [round(frame * 100 / self.fps) for frame in range(count + 1)]
        return [max(1, (ticks[i + 1] - ticks[i])) * 10 for i in range(count)]

    def _close(self) -> None:
        if not self._frames:
            log.warning("no frames were written for %s; no GIF made", self.info.path)
            return
        first, *rest = self._frames
        try:
            first.save(
                self._partial,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=self.delays_ms(len(self._frames)),
                loop=self.options.loop,
                optimize=False,
                disposal=1,
            )
            os.replace(self._partial, self.output_path)
        finally:
            self._frames = []

    def _abort(self) -> None:
        self._frames = []
        _unlink_quietly(self._partial)


# ---------------------------------------------------------------------------------------
# Face patches


PATCH_META_KEY = "faceforge_patch"
PATCH_META_VERSION = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(_PNG_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length+type, body, CRC


@dataclass(frozen=True)
class FacePatch:
    """One swapped face as the patch writer stores it.

    image_rgb: the swapped face in aligned-face space, S x S x 3 uint8.
    matrix: 2 x 3 affine from frame pixels to patch pixels (as for cv2.warpAffine); its inverse
    puts the patch back into the frame. mask: optional S x S uint8 blend mask, stored as alpha.
    """

    image_rgb: np.ndarray
    matrix: np.ndarray
    face_index: int = 0
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class PatchOptions:
    """Options of the `patch` writer: PNG compression 0-9."""

    png_compression: int = 3

    def __post_init__(self) -> None:
        _whole_number("png_compression", self.png_compression, 0, 9)


def patch_filename(stem: str, index: int, face_index: int) -> str:
    """`<stem>_<frame:06d>_<face>.png`, like extracted face files."""
    return f"{stem}_{index:06d}_{face_index}.png"


def _itxt(keyword: str, text: str) -> bytes:
    from faceforge.formats.png_chunks import png_chunk

    # keyword, NUL, not compressed, method 0, empty language tag and translated keyword
    return png_chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


@WRITERS.register("patch")
class PatchWriter(FrameWriter):
    """Swapped faces and the matrices that place them, for compositing in other software.

    Each face becomes `<out_dir>/<stem>_<frame:06d>_<face>.png` (RGB, or RGBA when a mask is
    given) with JSON in an iTXt chunk `faceforge_patch`: version, source, frame and face index,
    frame size, patch size and the 2 x 3 frame-to-patch matrix. Files are written atomically;
    frames without faces, or not given, get no file. `read_patch` reads one back.
    This writer is fed with `write_patches`, not `write`.
    """

    name = "patch"
    accepts = "patches"
    options_class = PatchOptions

    def describe_output(self) -> str:
        return str(self.out_dir / patch_filename(self.info.stem, 0, 0))

    def write(self, index: int, image_rgb: np.ndarray) -> None:
        raise TypeError("the patch writer takes swapped faces: call write_patches()")

    def _write(self, index: int, image_rgb: np.ndarray) -> None:  # pragma: no cover
        raise TypeError("the patch writer takes swapped faces: call write_patches()")

    def write_patches(self, index: int, patches: Sequence[FacePatch]) -> None:
        """Write the swapped faces of the frame with source index `index`."""
        if self._finished:
            raise ValueError(f"patch writer for {self.info.stem} is already closed")
        if index <= self._last_index:
            raise ValueError(f"frame {index} arrived after frame {self._last_index}")
        try:
            for patch in patches:
                self._write_patch(index, patch)
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise output_error("writing", self.out_dir, exc) from exc
        self._last_index = index
        self.frames_written += 1

    def _write_patch(self, index: int, patch: FacePatch) -> None:
        import cv2
        import numpy as np

        matrix = np.asarray(patch.matrix, dtype=np.float64)
        image = patch.image_rgb
        if matrix.shape != (2, 3):
            raise ValueError(f"a patch matrix is 2 x 3, got {matrix.shape}")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"a patch is H x W x 3 uint8, got {image.dtype} {image.shape}")
        pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if patch.mask is not None:
            if patch.mask.shape != image.shape[:2]:
                raise ValueError(f"mask {patch.mask.shape} does not match patch {image.shape}")
            pixels = np.dstack((pixels, patch.mask.astype(np.uint8)))
        ok, encoded = cv2.imencode(
            ".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, self.options.png_compression]
        )
        if not ok:  # pragma: no cover
            raise OutputError(f"OpenCV could not encode a patch of frame {index}")
        meta = {
            "version": PATCH_META_VERSION,
            "source": self.info.path.name,
            "frame_index": index,
            "face_index": patch.face_index,
            "frame_size": [self.info.width, self.info.height],
            "patch_size": [image.shape[1], image.shape[0]],
            "matrix": matrix.tolist(),
        }
        data = encoded.tobytes()
        # Right after IHDR, so readers find it without walking the pixel data.
        data = data[:_IHDR_END] + _itxt(PATCH_META_KEY, json.dumps(meta)) + data[_IHDR_END:]
        atomic_write(
            self.out_dir / patch_filename(self.info.stem, index, patch.face_index), data
        )

    def _close(self) -> None:
        """Every patch is final as soon as it is written."""

    def _abort(self) -> None:
        """Patches written are complete files; nothing to remove."""


def read_patch(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """A patch file's pixels (RGB or RGBA uint8) and its metadata, matrix as a 2 x 3 array."""
    import numpy as np
    from PIL import Image

    from faceforge.errors import FormatError

    with Image.open(path) as image:
        text = getattr(image, "text", {}).get(PATCH_META_KEY)
        if text is None:
            raise FormatError(f"{path} is not a faceforge patch", "give a file the patch "
                              "writer made")
        pixels = np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB"))
    meta = json.loads(text)
    meta["matrix"] = np.asarray(meta["matrix"], dtype=np.float64)
    return pixels, meta
