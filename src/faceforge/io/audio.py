"""The source's audio for a converted video: copied unchanged when every frame was written, or
cut to the time spans of the frames that were, joined in output order (gaps as silence) and
re-encoded to AAC, so that it stays in sync. PyAV and numpy are imported when used."""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: keep `import faceforge.io` free of numpy and PyAV
    import av.container
    import numpy as np

log = logging.getLogger(__name__)

# Audio codecs each container takes as they are; anything else is re-encoded to AAC.
COPYABLE_AUDIO = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    "mkv": frozenset({
        "aac", "mp3", "mp2", "ac3", "eac3", "dts", "alac", "opus", "flac", "vorbis",
        "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le",
    }),
}
AUDIO_BIT_RATE = 192_000  # a re-encode should not be audibly worse than a typical source


def first_frame_time(path: Path) -> float:
    """Presentation time (s) of the first video frame: where frame 0 sits on the source's
    clock, which the audio is measured against (it is often not 0: edit lists, cut streams)."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            return float(frame.time or 0.0)
    return 0.0


def audio_codec(stream: Any) -> str:
    """The codec's own name: the decoder's may differ (mp3float for mp3)."""
    return stream.codec_context.codec.canonical_name


def copied_audio(
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


def cut_audio(
    source: av.container.InputContainer,
    audio_in: Any,
    output: av.container.OutputContainer,
    runs: Sequence[Sequence[int]],
    video_rate: Fraction,
    shift_s: float,
) -> tuple[Any, Iterator[Any]]:
    """Add an AAC stream to `output` and return it with a generator of its packets: the
    source audio of the written frames' spans, in output order.

    `runs` are the runs of consecutive source frame indices written, [first, end), in output
    order; `video_rate` is the frame rate (frames/s) they are measured in, and `shift_s` the
    source time (s) of frame 0.
    """
    import av

    rate = audio_in.codec_context.sample_rate or 48_000
    layout = audio_in.codec_context.layout.name if audio_in.codec_context.layout else "stereo"
    stream = output.add_stream("aac", rate=rate)
    stream.codec_context.layout = layout
    stream.codec_context.format = "fltp"
    stream.codec_context.bit_rate = AUDIO_BIT_RATE
    stream.codec_context.time_base = Fraction(1, rate)
    spans: list[tuple[float, float, int]] = []  # (source start s, source end s, output start)
    out_frames = 0
    for first, end in runs:
        spans.append((shift_s + first / video_rate, shift_s + end / video_rate, out_frames))
        out_frames += end - first
    total_samples = round(out_frames / video_rate * rate)

    def packets() -> Iterator[Any]:
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        joined = AudioJoiner(stream, rate, layout, total_samples)
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
                    yield from joined.add_chunk(chunk.to_ndarray(), clock_s, spans, video_rate)
                    clock_s += chunk.samples / rate
                if clock_s > spans[-1][1]:
                    break  # past the last span: the rest of the file is not needed
            for chunk in resampler.resample(None):
                if clock_s is not None:
                    yield from joined.add_chunk(chunk.to_ndarray(), clock_s, spans, video_rate)
        except av.error.FFmpegError as exc:
            # Damaged audio should not cost the user a finished video: keep what decoded
            # and fill the rest with silence.
            log.warning("%s: audio stops early (%s); the rest is silent", source.name, exc)
        yield from joined.finish()

    return stream, packets()


class AudioJoiner:
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
