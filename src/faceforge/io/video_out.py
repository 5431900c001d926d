"""Writing a video file with PyAV: RGB frames encoded as they arrive at a constant frame rate,
then muxed with the source's audio (see `faceforge.io.audio`) and renamed into place.

PyAV and numpy are imported when a video is written, so importing this module stays light.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceforge.io import audio
from faceforge.io.files import partial_path, remove_partial, remove_stale_partials
from faceforge.io.source import IMAGE_SOURCE_FPS, SourceInfo

if TYPE_CHECKING:  # only for annotations: keep `import faceforge.io` free of numpy and PyAV
    import av.container
    import numpy as np

log = logging.getLogger(__name__)

# Our container names and FFmpeg's names for their muxers.
CONTAINER_FORMATS = {"mp4": "mp4", "mkv": "matroska"}


def has_encoder(encoder: str) -> bool:
    """Whether this FFmpeg build can encode with `encoder` (libx264, libx265...)."""
    import av

    try:
        av.codec.Codec(encoder, "w")
    except (av.codec.codec.UnknownCodecError, av.error.FFmpegError):
        return False
    return True


def is_ffmpeg_error(exc: BaseException) -> bool:
    """Whether `exc` is an error reported by the FFmpeg libraries."""
    import av

    return isinstance(exc, av.error.FFmpegError)


def source_rate(info: SourceInfo, override: float | None) -> Fraction:
    """The constant output frame rate (frames/s) as an exact fraction.

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
        rate = Fraction(IMAGE_SOURCE_FPS)
    return Fraction(rate).limit_denominator(1001)


class VideoOutput:
    """One video file, `output_path`, made from the RGB frames of the source `info`.

    Frames are encoded as they arrive into `<name>.partial-<pid>.<ext>` (a source without audio
    is finished right there). With audio, `close()` then muxes that video stream (packets
    copied, not re-encoded) with the source's audio into a second partial file, because only
    then is it known which frames were written: when every frame was, the audio packets are
    copied unchanged if the container accepts the codec, else the audio of exactly the written
    frames' spans is cut out and re-encoded to AAC. `close()` renames the result into place,
    replacing any file there; `abort()` removes every partial file.

    encoder: an FFmpeg encoder name (libx264, libx265). encoder_options: its private options
    (crf, preset). threads 0 lets the encoder choose.
    """

    def __init__(
        self,
        info: SourceInfo,
        output_path: Path,
        *,
        encoder: str,
        rate: Fraction,
        container: str = "mp4",
        pixel_format: str = "yuv420p",
        encoder_options: dict[str, str] | None = None,
        threads: int = 0,
    ) -> None:
        self.info = info
        self.output_path = output_path
        self.encoder = encoder
        self.rate = rate
        self.container_name = container
        self.pixel_format = pixel_format
        self.encoder_options = dict(encoder_options or {})
        self.threads = threads
        self.with_audio = info.kind == "video" and info.has_audio
        # With audio, the encoded video is muxed again by close(); that first file is always
        # MP4, whose demuxer returns every packet's decoding time (Matroska's leaves some out,
        # and they are needed to copy the packets).
        self._video_format = "mp4" if self.with_audio else container
        # What a killed run of the same output left (its encoding or muxing pass).
        remove_stale_partials(output_path)
        self._video_path = partial_path(output_path.with_suffix(f".{self._video_format}"))
        self._muxed_path: Path | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: Any = None
        self._rgb_to_yuv: Any = None
        self._size: tuple[int, int] | None = None  # (width, height) of the frames written
        self.frames_encoded = 0
        # Runs of consecutive source indices written, [first, end), in output order.
        self.runs: list[list[int]] = []

    @property
    def audio_is_copied(self) -> bool:
        """Whether close() copies the audio packets unchanged (every frame was written)."""
        return self.runs == [[0, self.info.frame_count]]

    def _open_video(self, width: int, height: int) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        container_options = {}
        if self._video_format == "mp4" and not self.with_audio:
            # Index first, so the file starts playing before it is fully downloaded. With audio
            # the second (muxing) pass does this instead.
            container_options["movflags"] = "+faststart"
        container = av.open(
            str(self._video_path),
            mode="w",
            format=CONTAINER_FORMATS[self._video_format],
            options=container_options,
        )
        self._container = container
        stream = container.add_stream(self.encoder, rate=self.rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pixel_format
        # One tick per frame: frame k is shown at k / rate, exactly, so the count, the rate and
        # the duration all come out equal to the source's.
        stream.codec_context.time_base = 1 / self.rate
        stream.codec_context.thread_count = self.threads
        # Converted with the BT.709 matrix and tagged so, so players and our own reader turn
        # it back into the same RGB (untagged YUV is read as BT.601 at SD and 709 at HD).
        stream.codec_context.colorspace = 1
        stream.codec_context.color_primaries = 1
        stream.codec_context.color_trc = 1
        stream.codec_context.color_range = 1
        encoder_options = dict(self.encoder_options)
        if self.encoder == "libx265":
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

        if self.pixel_format == "yuv444p":
            return image_rgb
        height, width = image_rgb.shape[:2]
        pad_rows, pad_cols = height % 2, width % 2
        if pad_rows or pad_cols:
            return np.pad(image_rgb, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="edge")
        return image_rgb

    def write(self, index: int, image_rgb: np.ndarray) -> None:
        """Encode the H x W x 3 uint8 RGB frame with source index `index` as the next frame."""
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
            format=self.pixel_format,
            dst_colorspace="ITU709",
            dst_color_range="MPEG",
        )
        frame.pts = self.frames_encoded
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_encoded += 1
        if self.runs and self.runs[-1][1] == index:
            self.runs[-1][1] = index + 1
        else:
            self.runs.append([index, index + 1])

    def close(self) -> None:
        """Flush the encoder, add the audio and give the file its final name."""
        if self._container is None:
            log.warning("no frames were written for %s; no video made", self.info.path)
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
        if self.with_audio:
            self._muxed_path = self._video_path.with_name(
                f"{self.output_path.stem}.partial-{os.getpid()}-muxed{self.output_path.suffix}"
            )
            self._mux_audio(self._video_path, self._muxed_path)
            os.replace(self._muxed_path, self.output_path)
            self._muxed_path = None
            remove_partial(self._video_path)
        else:
            os.replace(self._video_path, self.output_path)

    def abort(self) -> None:
        """Close what is open and remove every partial file."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # already failing: removing the file matters more
                log.debug("closing %s after a failure failed too", self._video_path)
            self._container = None
        remove_partial(self._video_path)
        remove_partial(self._muxed_path)

    def _mux_audio(self, video_path: Path, muxed_path: Path) -> None:
        import av

        shift_s = audio.first_frame_time(self.info.path)
        with (
            av.open(str(self.info.path), metadata_errors="ignore") as source,
            av.open(str(video_path)) as video,
        ):
            audio_in = source.streams.audio[0]
            container = self.container_name
            container_options = {"movflags": "+faststart"} if container == "mp4" else {}
            with av.open(
                str(muxed_path),
                mode="w",
                format=CONTAINER_FORMATS[container],
                options=container_options,
            ) as output:
                video_in = video.streams.video[0]
                video_out = output.add_stream_from_template(video_in)
                copy = (
                    self.audio_is_copied
                    and audio.audio_codec(audio_in) in audio.COPYABLE_AUDIO[container]
                )
                if copy:
                    audio_out = output.add_stream_from_template(audio_in)
                    audio_packets = audio.copied_audio(
                        source, audio_in, shift_s, preroll=container == "mp4"
                    )
                else:
                    audio_out, audio_packets = audio.cut_audio(
                        source, audio_in, output, self.runs, self.rate, shift_s
                    )
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


def _packet_time(packet: Any) -> float:
    timestamp = packet.dts if packet.dts is not None else packet.pts
    return float(timestamp * packet.time_base) if timestamp is not None else 0.0


def _video_packets(container: av.container.InputContainer, stream: Any) -> Iterator[Any]:
    for packet in container.demux(stream):
        if packet.size:  # not the demuxer's empty flush packet
            yield packet
