"""The audio of converted videos: cut to the written frames' spans and kept in sync, copied
unchanged when every frame was written; on real footage through `VideoOutput`, and the
re-timing itself on a fake encoder."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from faceforge.io import SourceInfo, open_source
from faceforge.io.audio import AudioJoiner
from faceforge.io.video_out import VideoOutput, source_rate


@pytest.fixture(scope="module")
def lp_d18(video_dir: Path) -> SourceInfo:
    """216 frames of 480x480 at 30 fps with an AAC track (silent)."""
    with open_source(video_dir / "lp_d18.mp4") as source:
        return source.info


def _encode(
    info: SourceInfo, folder: Path, frames: Iterable[tuple[int, np.ndarray]],
    container: str = "mp4",
) -> VideoOutput:
    """The frames as `<stem>_converted.<container>` at the ffmpeg writer's default settings."""
    video = VideoOutput(
        info, folder / f"{info.stem}_converted.{container}", encoder="libx264",
        rate=source_rate(info, None), container=container,
        encoder_options={"crf": "18", "preset": "veryfast"},
    )
    try:
        for index, image in frames:
            video.write(index, image)
        video.close()
    except BaseException:
        video.abort()
        raise
    return video


def _gray(info: SourceInfo) -> np.ndarray:
    return np.full((info.height, info.width, 3), 128, np.uint8)


def _streams(path: Path) -> dict[str, tuple[int, float, str]]:
    """Per stream type: (frames, duration s, codec) as the demuxer reports."""
    with av.open(str(path)) as container:
        return {
            stream.type: (
                stream.frames,
                float(stream.duration * stream.time_base),
                stream.codec_context.codec.canonical_name,
            )
            for stream in container.streams
        }


def _decoded_audio(path: Path) -> tuple[np.ndarray, float, int]:
    """Mono float samples, the time (s) of the first one, and the sample rate."""
    with av.open(str(path)) as container:
        chunks, start, rate = [], None, 0
        for frame in container.decode(audio=0):
            if start is None:
                start, rate = float(frame.time or 0.0), frame.sample_rate
            samples = frame.to_ndarray().astype(np.float64)
            if not frame.format.is_planar:
                samples = samples.reshape(-1, frame.layout.nb_channels).T
            chunks.append(samples.mean(axis=0))
    return np.concatenate(chunks), start or 0.0, rate


# ---------------------------------------------------------------------------------------
# real footage


def test_a_frame_range_gets_the_audio_of_its_own_time_span(video_dir: Path, tmp_path) -> None:
    # short_hamilton_clip.mp4 has speech, 29.97 fps, and its video starts 0.85 s after its
    # audio: the cut must be measured from the first video frame, not from 0.
    with open_source(video_dir / "short_hamilton_clip.mp4") as source:
        info = source.info
    gray = _gray(info)
    video = _encode(info, tmp_path, ((index, gray) for index in range(30, 120)))
    assert not video.audio_is_copied
    streams = _streams(video.output_path)
    frames, video_s, _ = streams["video"]
    assert frames == 90 and abs(video_s - 90 * 100 / 2997) < 1e-3
    assert abs(streams["audio"][1] - video_s) < 0.05

    # The output audio must be the source's from frame 30's time on: find the lag where the
    # two line up best; it should be (close to) zero.
    source_audio, source_start, rate = _decoded_audio(info.path)
    with av.open(str(info.path)) as container:
        first_frame_s = float(next(container.decode(video=0)).time)
    out_audio, _, _ = _decoded_audio(video.output_path)
    span_start = round((first_frame_s + 30 * 100 / 2997 - source_start) * rate)
    window = out_audio[rate // 2 : rate // 2 + rate]  # a second from the middle
    max_lag = rate // 20
    first = span_start + rate // 2 - max_lag
    reference = source_audio[first : first + rate + 2 * max_lag]
    # Cross-correlation through the FFT: score[lag] = sum(window * reference[lag:]).
    size = len(reference) + len(window)
    scores = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(window, size)), size)
    best = int(np.argmax(scores[: 2 * max_lag]))
    lag_ms = (best - max_lag) / rate * 1000
    assert abs(lag_ms) < 2, f"audio is {lag_ms:.1f} ms out of sync"
    matched = reference[best : best + len(window)]
    similarity = np.dot(window, matched) / np.linalg.norm(window) / np.linalg.norm(matched)
    assert similarity > 0.9, "the output audio is not the source's audio of that span"


def test_skipped_frames_close_up_and_the_audio_follows(lp_d18: SourceInfo, tmp_path) -> None:
    wanted = [*range(0, 10), *range(50, 70)]
    with open_source(lp_d18.path) as source:
        frames = [(frame.index, frame.image) for frame in source.iter_frames()
                  if frame.index in wanted]
    video = _encode(lp_d18, tmp_path, frames, container="mkv")
    assert video.runs == [[0, 10], [50, 70]]
    assert [p.name for p in tmp_path.iterdir()] == ["lp_d18_converted.mkv"]
    with open_source(video.output_path) as back:
        assert back.frame_count == 30
    with av.open(str(video.output_path)) as container:
        audio_s = sum(frame.samples for frame in container.decode(audio=0)) / 44100
    assert abs(audio_s - 1.0) < 0.05


def test_mkv_output_copies_the_audio_and_starts_the_video_at_zero(lp_d18, tmp_path) -> None:
    gray = _gray(lp_d18)
    video = _encode(lp_d18, tmp_path, ((i, gray) for i in range(lp_d18.frame_count)), "mkv")
    assert video.audio_is_copied
    with av.open(str(video.output_path)) as container:
        video_stream, audio = container.streams.video[0], container.streams.audio[0]
        # Matroska cannot hold the AAC priming packet before 0: it must not push video later.
        assert video_stream.start_time == 0
        assert audio.codec_context.codec.canonical_name == "aac"
        assert abs(container.duration / 1e6 - 7.2) < 1 / 30


def test_mp3_audio_is_copied_into_mp4_as_it_is(video_dir: Path, tmp_path: Path) -> None:
    with open_source(video_dir / "single_face.mp4") as source:
        video = _encode(source.info, tmp_path,
                        ((frame.index, frame.image) for frame in source.iter_frames()))
    streams = _streams(video.output_path)
    assert streams["video"][0] == 72
    assert streams["audio"][2] == "mp3"


# ---------------------------------------------------------------------------------------
# the re-timing, on a fake encoder that hands back the frames it is given


def _fake_stream() -> SimpleNamespace:
    return SimpleNamespace(
        encode=lambda frame: [] if frame is None else [frame],
        codec_context=SimpleNamespace(layout=SimpleNamespace(nb_channels=1)),
    )


def _joined(start_s: float, samples: np.ndarray) -> np.ndarray:
    """100 Hz mono audio starting at `start_s`, cut to frames [0, 2) and [5, 6) of 10 fps."""
    video_rate = Fraction(10)
    runs, spans, out_frames = [(0, 2), (5, 6)], [], 0
    for first, end in runs:
        spans.append((first / video_rate, end / video_rate, out_frames))
        out_frames += end - first
    joiner = AudioJoiner(_fake_stream(), 100, "mono", total_samples=30)
    frames = [*joiner.add_chunk(samples[None, :], start_s, spans, video_rate), *joiner.finish()]
    return np.concatenate([frame.to_ndarray()[0] for frame in frames])


def test_the_audio_of_each_written_span_lands_where_its_frames_now_are() -> None:
    samples = np.arange(100, dtype=np.float32)
    expected = np.concatenate([np.arange(0, 20), np.arange(50, 60)])
    assert np.array_equal(_joined(0.0, samples), expected)


def test_time_without_source_audio_becomes_silence_and_the_length_stays_exact() -> None:
    # The audio starts 0.1 s after the first frame: the first 10 output samples are silent.
    samples = np.arange(1000, 1100, dtype=np.float32)
    expected = np.concatenate([np.zeros(10), np.arange(1000, 1010), np.arange(1040, 1050)])
    assert np.array_equal(_joined(0.1, samples), expected)
