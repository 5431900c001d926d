"""Output writers on real footage: video round trips with audio, frame ranges, atomic
finishing, image sequences, GIF, face patches, and the errors users can cause."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from faceforge.errors import OutputError, UsageError
from faceforge.io import SourceInfo, open_source
from faceforge.io.writers import (
    WRITERS,
    FacePatch,
    existing_indices,
    frame_filename,
    open_writer,
    read_patch,
)


@pytest.fixture(scope="module")
def clip(video_dir: Path) -> tuple[SourceInfo, list[np.ndarray]]:
    """lp_d18.mp4: 216 frames of 480x480 at 30 fps with an AAC track (silent)."""
    with open_source(video_dir / "lp_d18.mp4") as source:
        return source.info, [frame.image for frame in source.iter_frames()]


@pytest.fixture(scope="module")
def converted(clip, tmp_path_factory) -> Path:
    """Every frame of lp_d18.mp4 through the ffmpeg writer with default options."""
    info, frames = clip
    with open_writer("ffmpeg", info, tmp_path_factory.mktemp("full")) as writer:
        for index, image in enumerate(frames):
            writer.write(index, image)
    assert writer.audio_is_copied
    return writer.output_path


def _streams(path: Path) -> dict[str, tuple[int, float, float | None, str]]:
    """Per stream type: (frames, duration s, average rate, codec) as the demuxer reports."""
    found = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            rate = getattr(stream, "average_rate", None)
            found[stream.type] = (
                stream.frames,
                float(stream.duration * stream.time_base),
                float(rate) if rate else None,
                stream.codec_context.codec.canonical_name,
            )
    return found


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


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _gray_frames(info: SourceInfo) -> np.ndarray:
    return np.full((info.height, info.width, 3), 128, np.uint8)


# ---------------------------------------------------------------------------------------
# ffmpeg


def test_full_video_keeps_frame_count_rate_duration_and_audio(clip, converted: Path) -> None:
    info, _ = clip
    streams = _streams(converted)
    frames, video_s, rate, codec = streams["video"]
    assert (frames, rate, codec) == (216, 30.0, "h264")
    assert abs(video_s - info.duration_s) < 1 / 30
    assert "audio" in streams, "the source's audio track was dropped"
    _, audio_s, _, audio_codec = streams["audio"]
    assert audio_codec == "aac"
    assert abs(audio_s - video_s) < 0.05
    with open_source(converted) as back:
        assert back.frame_count == 216 and back.info.fps == 30.0


def test_frames_come_back_close_to_the_input_at_the_default_crf(clip, converted: Path) -> None:
    _, frames = clip
    with open_source(converted) as back:
        decoded = [frame.image for frame in back.iter_frames(every_n=15)]
    psnrs = [_psnr(frames[i * 15], image) for i, image in enumerate(decoded)]
    assert len(decoded) == 15
    assert min(psnrs) > 30, psnrs


def test_the_final_name_appears_only_on_close(clip, tmp_path: Path) -> None:
    info, frames = clip
    writer = open_writer("ffmpeg", info, tmp_path)
    with writer:
        for index in range(30):
            writer.write(index, frames[index])
            assert not writer.output_path.exists()
        assert [p.name for p in tmp_path.iterdir()] == [
            f"lp_d18_converted.partial-{os.getpid()}.mp4"
        ]
    assert [p.name for p in tmp_path.iterdir()] == ["lp_d18_converted.mp4"]


def test_abort_leaves_no_file(clip, tmp_path: Path) -> None:
    info, frames = clip
    with pytest.raises(KeyboardInterrupt):
        with open_writer("ffmpeg", info, tmp_path) as writer:
            for index in range(10):
                writer.write(index, frames[index])
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_frame_range_gets_the_audio_of_its_own_time_span(video_dir: Path, tmp_path) -> None:
    # short_hamilton_clip.mp4 has speech, 29.97 fps, and its video starts 0.85 s after its
    # audio: the cut must be measured from the first video frame, not from 0.
    with open_source(video_dir / "short_hamilton_clip.mp4") as source:
        info = source.info
    gray = _gray_frames(info)
    with open_writer("ffmpeg", info, tmp_path) as writer:
        for index in range(30, 120):
            writer.write(index, gray)
    assert not writer.audio_is_copied
    streams = _streams(writer.output_path)
    frames, video_s, _, _ = streams["video"]
    assert frames == 90 and abs(video_s - 90 * 100 / 2997) < 1e-3
    assert abs(streams["audio"][1] - video_s) < 0.05

    # The output audio must be the source's from frame 30's time on: find the lag where the
    # two line up best; it should be (close to) zero.
    source_audio, source_start, rate = _decoded_audio(info.path)
    with av.open(str(info.path)) as container:
        first_frame_s = float(next(container.decode(video=0)).time)
    out_audio, _, _ = _decoded_audio(writer.output_path)
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


def test_skipped_frames_close_up_and_the_audio_follows(clip, tmp_path: Path) -> None:
    info, frames = clip
    with open_writer("ffmpeg", info, tmp_path, {"container": "mkv"}) as writer:
        for index in [*range(0, 10), *range(50, 70)]:
            writer.write(index, frames[index])
    assert writer.runs == [[0, 10], [50, 70]]
    assert writer.output_path.name == "lp_d18_converted.mkv"
    with open_source(writer.output_path) as back:
        assert back.frame_count == 30
    with av.open(str(writer.output_path)) as container:
        audio_s = sum(frame.samples for frame in container.decode(audio=0)) / 44100
    assert abs(audio_s - 1.0) < 0.05


def test_mkv_output_copies_the_audio_and_starts_the_video_at_zero(clip, tmp_path) -> None:
    info, _ = clip
    gray = _gray_frames(info)
    with open_writer("ffmpeg", info, tmp_path, {"container": "mkv"}) as writer:
        for index in range(info.frame_count):
            writer.write(index, gray)
    assert writer.audio_is_copied
    with av.open(str(writer.output_path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        # Matroska cannot hold the AAC priming packet before 0: it must not push video later.
        assert video.start_time == 0 and audio.codec_context.codec.canonical_name == "aac"
        assert abs(container.duration / 1e6 - 7.2) < 1 / 30


def test_mp3_audio_is_copied_into_mp4_as_it_is(video_dir: Path, tmp_path: Path) -> None:
    with open_source(video_dir / "single_face.mp4") as source:
        with open_writer("ffmpeg", source.info, tmp_path) as writer:
            for frame in source.iter_frames():
                writer.write(frame.index, frame.image)
    streams = _streams(writer.output_path)
    assert streams["video"][0] == 72
    assert streams["audio"][3] == "mp3"


def test_portrait_video_without_audio(video_dir: Path, tmp_path: Path) -> None:
    with open_source(video_dir / "lp_d13.mp4") as source:
        assert not source.info.has_audio
        with open_writer("ffmpeg", source.info, tmp_path) as writer:
            for frame in source.iter_frames():
                if frame.index >= 45:
                    break
                writer.write(frame.index, frame.image)
    streams = _streams(writer.output_path)
    assert set(streams) == {"video"}
    with open_source(writer.output_path) as back:
        assert (back.info.width, back.info.height, back.frame_count) == (720, 1280, 45)


def test_h265_output_decodes(clip, tmp_path: Path) -> None:
    info, frames = clip
    with open_writer("ffmpeg", info, tmp_path, {"codec": "h265", "preset": "ultrafast"}) as w:
        for index in range(12):
            w.write(index, frames[index])
    streams = _streams(w.output_path)
    assert streams["video"][0] == 12 and streams["video"][3] == "hevc"


@pytest.mark.parametrize("full_file", ["partial-{pid}.mp4", "partial-{pid}-muxed.mp4"])
def test_a_full_disk_says_so_and_removes_the_partial_files(
    clip, tmp_path: Path, full_file: str
) -> None:
    info, frames = clip
    writer = open_writer("ffmpeg", info, tmp_path)
    # Every write to /dev/full fails with ENOSPC, just as a full disk would: first while
    # encoding, then while muxing in the audio at close().
    partial = tmp_path / f"lp_d18_converted.{full_file.format(pid=os.getpid())}"
    partial.symlink_to("/dev/full")
    with pytest.raises(OutputError, match="disk full") as caught:
        with writer:
            for index, image in enumerate(frames):
                writer.write(index, image)
    assert "free some space" in caught.value.one_line()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# image sequences, gif, patches


def test_png_sequence_is_lossless_and_resumable(clip, tmp_path: Path) -> None:
    info, frames = clip
    written = [0, 1, 2, 5, 6]
    with open_writer("opencv", info, tmp_path) as writer:
        for index in written:
            writer.write(index, frames[index])
    for index in written:
        back = cv2.cvtColor(cv2.imread(str(tmp_path / frame_filename("lp_d18", index, "png"))),
                            cv2.COLOR_BGR2RGB)
        assert np.array_equal(back, frames[index])
    (tmp_path / "other_000003.png").write_bytes(b"")
    (tmp_path / ".lp_d18_000004.png.1234abcd.tmp").write_bytes(b"")
    assert existing_indices(tmp_path, "lp_d18", "png") == set(written)
    assert existing_indices(tmp_path, "lp_d18", "jpg") == set()
    assert existing_indices(tmp_path / "missing", "lp_d18", "png") == set()


@pytest.mark.parametrize("fmt", ["jpg", "webp", "tif"])
def test_other_image_formats_are_written_and_readable(clip, tmp_path: Path, fmt: str) -> None:
    info, frames = clip
    with open_writer("opencv", info, tmp_path, {"format": fmt}) as writer:
        writer.write(7, frames[7])
    back = cv2.imread(str(tmp_path / f"lp_d18_000007.{fmt}"))
    assert back.shape == frames[7].shape
    if fmt == "tif":
        assert np.array_equal(cv2.cvtColor(back, cv2.COLOR_BGR2RGB), frames[7])
    else:
        assert _psnr(cv2.cvtColor(back, cv2.COLOR_BGR2RGB), frames[7]) > 30


def test_gif_plays_back_every_frame_at_the_source_rate(clip, tmp_path: Path) -> None:
    info, frames = clip
    with open_writer("gif", info, tmp_path) as writer:
        for index in range(30):
            # A marker square per frame: Pillow folds identical frames into one.
            image = frames[index].copy()
            image[:8, index * 8 : index * 8 + 8] = 255
            writer.write(index, image)
    assert [p.name for p in tmp_path.iterdir()] == ["lp_d18_converted.gif"]
    with Image.open(writer.output_path) as gif:
        assert gif.n_frames == 30 and gif.size == (480, 480)
        total_ms = 0
        for number in range(gif.n_frames):
            gif.seek(number)
            total_ms += gif.info["duration"]
    assert total_ms == 1000


def test_patches_keep_their_pixels_mask_and_matrix(clip, tmp_path: Path) -> None:
    info, frames = clip
    rng = np.random.default_rng(3)
    face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    matrix = np.array([[0.5, 0.1, -20.25], [-0.1, 0.5, -31.5]])
    with open_writer("patch", info, tmp_path) as writer:
        writer.write_patches(4, [FacePatch(face, matrix), FacePatch(face, matrix, 1, mask)])
        writer.write_patches(5, [])
        with pytest.raises(TypeError, match="write_patches"):
            writer.write(6, frames[6])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lp_d18_000004_0.png",
                                                          "lp_d18_000004_1.png"]
    pixels, meta = read_patch(tmp_path / "lp_d18_000004_0.png")
    assert np.array_equal(pixels, face)
    assert np.array_equal(meta["matrix"], matrix)
    assert (meta["frame_index"], meta["face_index"], meta["frame_size"]) == (4, 0, [480, 480])
    pixels, meta = read_patch(tmp_path / "lp_d18_000004_1.png")
    assert np.array_equal(pixels[..., 3], mask) and np.array_equal(pixels[..., :3], face)


# ---------------------------------------------------------------------------------------
# every writer, and user mistakes


@pytest.mark.parametrize("name", [n for n in WRITERS.names() if WRITERS.get(n).accepts == "frames"])
def test_every_frame_writer_finishes_or_leaves_nothing_partial(clip, tmp_path: Path,
                                                               name: str) -> None:
    info, frames = clip
    small = replace(info, kind="images", has_audio=False, fps=10.0, width=64, height=48)
    images = [cv2.resize(frames[i], (64, 48)) for i in range(4)]
    with open_writer(name, small, tmp_path / "done") as writer:
        for index, image in enumerate(images):
            writer.write(index, image)
    assert list((tmp_path / "done").iterdir()), f"{name} wrote nothing"
    with pytest.raises(RuntimeError):
        with open_writer(name, small, tmp_path / "failed") as writer:
            writer.write(0, images[0])
            raise RuntimeError("the model crashed")
    assert not [p for p in (tmp_path / "failed").iterdir() if "partial" in p.name]


def test_unknown_writer_codec_or_option_names_the_valid_ones(clip, tmp_path: Path) -> None:
    info, _ = clip
    with pytest.raises(UsageError) as caught:
        open_writer("avi", info, tmp_path)
    assert "ffmpeg, gif, opencv, patch" in caught.value.one_line()
    mistakes = [
        ("ffmpeg", {"codec": "vp9"}, "unknown codec 'vp9': choose one of: h264, h265"),
        ("ffmpeg", {"bitrate": 5}, "bitrate: valid options are: codec, crf, preset"),
        ("ffmpeg", {"preset": "turbo"}, "choose one of: ultrafast, superfast, veryfast"),
        ("ffmpeg", {"crf": 60}, "crf must be a whole number from 0 to 51"),
        ("opencv", {"format": "bmp"}, "choose one of: png, jpg, webp, tif"),
    ]
    for name, options, expected in mistakes:
        with pytest.raises(UsageError) as caught:
            open_writer(name, info, tmp_path, options)
        assert expected in caught.value.one_line()


def test_an_output_folder_that_is_a_file_is_refused(clip, tmp_path: Path) -> None:
    info, _ = clip
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(OutputError, match="is a file"):
        open_writer("ffmpeg", info, tmp_path / "out")


def test_an_encoder_missing_from_the_ffmpeg_build_is_a_usage_error(
    clip, tmp_path: Path, monkeypatch
) -> None:
    import faceforge.io.writers as writers

    info, _ = clip
    monkeypatch.setitem(writers._ENCODERS, "h265", "libx265_not_built")
    with pytest.raises(UsageError) as caught:
        open_writer("ffmpeg", info, tmp_path, {"codec": "h265"})
    assert "no libx265_not_built encoder" in caught.value.one_line()
    assert "choose one of: h264" in caught.value.one_line()
