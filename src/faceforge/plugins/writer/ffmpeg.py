"""The `ffmpeg` writer: H.264/H.265 video in MP4 or MKV with the source's audio, through the
FFmpeg libraries (`faceforge.io.video_out` and `faceforge.io.audio` do the work).

Encode-only cost (libx264, CRF 18, yuv420p, RGB-to-YUV included; 2-core VM shared with another
job; `benchmarks/encode_speed.py` has the full table), frames/s with CPU ms per frame in
brackets, encoder threads auto:

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

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faceforge.errors import OutputError, UsageError
from faceforge.io.source import SourceInfo
from faceforge.io.video_out import VideoOutput, has_encoder, is_ffmpeg_error, source_rate
from faceforge.plugins.writer.base import WRITERS, Writer, choice, whole_number

if TYPE_CHECKING:
    import numpy as np

    from faceforge.formats.patch_png import FacePatch

CODECS = ("h264", "h265")
PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow",
)
PIXEL_FORMATS = ("yuv420p", "yuv422p", "yuv444p")
CONTAINERS = ("mp4", "mkv")
# The FFmpeg encoder behind each codec, and its CRF default here.
ENCODERS = {"h264": "libx264", "h265": "libx265"}
DEFAULT_CRF = {"h264": 18, "h265": 23}


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
        object.__setattr__(self, "codec", choice("codec", self.codec, CODECS))
        object.__setattr__(self, "preset", choice("preset", self.preset, PRESETS))
        object.__setattr__(
            self, "pixel_format", choice("pixel format", self.pixel_format, PIXEL_FORMATS)
        )
        object.__setattr__(self, "container", choice("container", self.container, CONTAINERS))
        if self.crf is not None:
            whole_number("crf", self.crf, 0, 51)
        whole_number("threads", self.threads, 0, 64)
        if self.fps is not None and not (
            isinstance(self.fps, (int, float)) and 0 < self.fps <= 1000
        ):
            raise UsageError(f"fps must be a number above 0, got {self.fps!r}", "try 25 or 30")

    @property
    def effective_crf(self) -> int:
        return DEFAULT_CRF[self.codec] if self.crf is None else self.crf


@WRITERS.register("ffmpeg")
class FFmpegWriter(Writer):
    """H.264/H.265 video in MP4 or MKV at the source's constant frame rate, with its audio.

    Output: `<out_dir>/<stem>_converted.<container>`, written under a partial name and renamed
    by `close()`, which replaces an existing file under the final name. Frames are encoded as
    they arrive; with audio, `close()` muxes the video with the source's audio:

    - every frame written: the audio packets are copied unchanged when the container accepts
      the codec (AAC, MP3, ... into MP4), else re-encoded to AAC;
    - a frame range, or frames skipped: output frames are laid back to back (gaps closed up),
      and the audio of exactly the written frames' time spans is cut out, joined in the same
      order and re-encoded to AAC, so it stays in sync; source time without audio becomes
      silence.

    A variable-frame-rate source comes out at its average rate: same frame count and length,
    with frames evenly spaced. Only the first audio stream is used.
    """

    name = "ffmpeg"
    options_class = FFmpegOptions

    def __init__(
        self, info: SourceInfo, out_dir: str | os.PathLike[str], options: Any = None
    ) -> None:
        super().__init__(info, out_dir, options)
        opts: FFmpegOptions = self.options
        self.encoder_name = ENCODERS[opts.codec]
        if not has_encoder(self.encoder_name):
            available = [codec for codec, encoder in ENCODERS.items() if has_encoder(encoder)]
            raise UsageError(
                f"this FFmpeg build has no {self.encoder_name} encoder for codec "
                f"{opts.codec!r}",
                f"choose one of: {', '.join(available) or 'none (install PyAV wheels from PyPI)'}",
            )
        self.rate = source_rate(info, opts.fps)
        self.output_path = self.out_dir / f"{info.stem}_converted.{opts.container}"
        self._video = VideoOutput(
            info,
            self.output_path,
            encoder=self.encoder_name,
            rate=self.rate,
            container=opts.container,
            pixel_format=opts.pixel_format,
            encoder_options={"crf": str(opts.effective_crf), "preset": opts.preset},
            threads=opts.threads,
        )

    @property
    def runs(self) -> list[list[int]]:
        """Runs of consecutive source indices written, [first, end), in output order."""
        return self._video.runs

    @property
    def audio_is_copied(self) -> bool:
        """Whether close() copies the audio packets unchanged (every frame was written)."""
        return self._video.audio_is_copied

    def describe_output(self) -> str:
        return str(self.output_path)

    def _fail(self, action: str, exc: BaseException) -> None:
        super()._fail(action, exc)
        if is_ffmpeg_error(exc):
            raise OutputError(
                f"FFmpeg failed while {action} {self.output_path}: {exc}; partial output removed",
                hint="try another codec, pixel format or container (mkv takes the most)",
            ) from exc

    def _write(
        self, index: int, frame: np.ndarray | None, patches: Sequence[FacePatch]
    ) -> None:
        self._video.write(index, frame)

    def _close(self) -> None:
        self._video.close()

    def _abort(self) -> None:
        self._video.abort()
