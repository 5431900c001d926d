"""Output writers on real footage: the contract every registered writer keeps, video round
trips with audio, atomic finishing, image sequences, GIF, face patches, and the errors users
can cause. The audio engine's own checks (cut spans, sync, copying) are in tests/io/test_audio.py.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from faceforge.errors import OutputError, UsageError
from faceforge.formats.patch_png import FacePatch, read_patch
from faceforge.io import SourceInfo, open_source
from faceforge.plugins.writer import WRITERS, open_writer
from faceforge.plugins.writer.images import existing_indices, frame_filename


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


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


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
        assert not writer.uses_frame and writer.uses_patches
        writer.write(4, None, [FacePatch(face, matrix), FacePatch(face, matrix, 1, mask)])
        writer.write(5, None, [])
        writer.write(6, frames[6])  # a frame is not used, and no patches make no file
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


def _patches_of(image: np.ndarray) -> list[FacePatch]:
    """One square "face" cut from the frame's middle, with the matrix that places it."""
    height, width = image.shape[:2]
    size = min(height, width) // 2
    top, left = (height - size) // 2, (width - size) // 2
    face = np.ascontiguousarray(image[top : top + size, left : left + size])
    return [FacePatch(face, np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]]))]


def _frames_in(folder: Path) -> int:
    """How many frames the finished outputs in `folder` hold, decoding every one of them:
    videos and GIFs count their frames, an image file or a patch counts one."""
    total = 0
    for path in folder.iterdir():
        if path.suffix in (".mp4", ".mkv", ".gif"):
            with open_source(path) as back:
                total += sum(1 for _ in back.iter_frames())
        elif re.search(r"_\d{6}_\d+\.png$", path.name):  # <stem>_<frame>_<face>.png
            pixels, meta = read_patch(path)
            assert pixels.shape[2] == 3 and meta["matrix"].shape == (2, 3)
            total += 1
        else:
            assert cv2.imread(str(path)) is not None, f"{path.name} does not decode"
            total += 1
    return total


def _partial_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "partial" in p.name or ".tmp-" in p.name]


@pytest.mark.parametrize("kind", ["video", "images"])
@pytest.mark.parametrize("name", WRITERS.names())
def test_every_writer_finishes_or_leaves_nothing_partial(clip, tmp_path: Path, name: str,
                                                         kind: str) -> None:
    info, frames = clip
    # Frames a third of a second apart: Pillow folds identical neighbours into one GIF frame.
    images = [frames[i * 10] for i in range(4)]
    if kind == "images":  # like a folder of small frames: no audio, no frame rate
        info = replace(info, kind="images", has_audio=False, fps=None, width=64, height=48)
        images = [cv2.resize(image, (64, 48)) for image in images]
    with open_writer(name, info, tmp_path / "done") as writer:
        assert writer.uses_frame or writer.uses_patches, f"{name} uses nothing it is given"
        for index, image in enumerate(images):
            writer.write(index, image if writer.uses_frame else None, _patches_of(image))
    assert writer.frames_written == 4
    assert _partial_files(tmp_path / "done") == []
    assert _frames_in(tmp_path / "done") == 4, f"{name} did not write every frame"
    with pytest.raises(ValueError, match="already closed"):
        writer.write(4, images[0], _patches_of(images[0]))

    with pytest.raises(RuntimeError):
        with open_writer(name, info, tmp_path / "failed") as writer:
            writer.write(0, images[0], _patches_of(images[0]))
            with pytest.raises(ValueError, match="arrived after frame 0"):
                writer.write(0, images[0], _patches_of(images[0]))
            raise RuntimeError("the model crashed")
    assert _partial_files(tmp_path / "failed") == []


@pytest.mark.parametrize("name", [n for n in WRITERS.names() if WRITERS.get(n).uses_frame])
def test_a_writer_that_uses_frames_refuses_none_and_non_rgb(clip, tmp_path: Path,
                                                             name: str) -> None:
    info, frames = clip
    with open_writer(name, info, tmp_path) as writer:
        with pytest.raises(ValueError, match="needs the converted frame"):
            writer.write(0, None, _patches_of(frames[0]))
    with open_writer(name, info, tmp_path) as writer:
        with pytest.raises(ValueError, match="H x W x 3 uint8 RGB"):
            writer.write(0, frames[0].astype(np.float32))


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


def test_the_container_option_names_the_video_file(clip, tmp_path: Path) -> None:
    info, _ = clip
    writer = open_writer("ffmpeg", info, tmp_path, {"container": "mkv"})
    assert writer.output_path.name == "lp_d18_converted.mkv"
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_that_is_a_file_is_refused(clip, tmp_path: Path) -> None:
    info, _ = clip
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(OutputError, match="is a file"):
        open_writer("ffmpeg", info, tmp_path / "out")


def test_an_encoder_missing_from_the_ffmpeg_build_is_a_usage_error(
    clip, tmp_path: Path, monkeypatch
) -> None:
    from faceforge.plugins.writer import ffmpeg

    info, _ = clip
    monkeypatch.setitem(ffmpeg.ENCODERS, "h265", "libx265_not_built")
    with pytest.raises(UsageError) as caught:
        open_writer("ffmpeg", info, tmp_path, {"codec": "h265"})
    assert "no libx265_not_built encoder" in caught.value.one_line()
    assert "choose one of: h264" in caught.value.one_line()
