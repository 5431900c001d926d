"""Frame sources on real footage: exact counts, upright frames, many containers and codecs,
image folders, and one clear InputError for each kind of bad input.

Derived fixtures (rotated, transcoded, truncated clips) are made with PyAV in tmp_path, so no
ffmpeg command-line tool is needed.
"""

from __future__ import annotations

import errno
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from faceforge.errors import InputError, UsageError
from faceforge.io import (
    list_batch_inputs,
    natural_sort_key,
    open_source,
    source_fingerprint,
)

# (file, frames, width, height, codec). no_face.mp4's header says 98 frames (the README's
# figure), but an MP4 edit list hides the first 3, so players and FFmpeg show 95.
REAL_CLIPS = [
    ("WolfgangLanger_Pexels.mp4", 472, 640, 360, "h264"),
    ("lp_d18.mp4", 216, 480, 480, "h264"),
    ("face_noface.mov", 169, 960, 540, "hevc"),
    ("no_face.mp4", 95, 960, 540, "h264"),
    ("head-pose-face-detection-female.gif", 23, 480, 270, "gif"),
    ("head-pose-face-detection-male.gif", 62, 480, 270, "gif"),
]


def _decode_count(path: Path) -> int:
    """Reference count: plain PyAV decoding, independent of faceforge's counting."""
    with av.open(str(path)) as container:
        container.streams.video[0].codec_context.thread_type = "AUTO"
        return sum(1 for _ in container.decode(video=0))


def _transcode(src: Path, dst: Path, codec: str, frames: int = 30, size: int = 240, **options):
    """Re-encode the first `frames` frames of a real clip, scaled to size x size."""
    with av.open(str(src)) as source, av.open(str(dst), "w") as target:
        stream = target.add_stream(codec, rate=30, options=options)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == frames:
                break
            scaled = frame.reformat(width=size, height=size, format="yuv420p")
            scaled.pts, scaled.time_base = index, Fraction(1, 30)
            target.mux(stream.encode(scaled))
        target.mux(stream.encode())
    return dst


def _remux_rotated(src: Path, dst: Path, clockwise: int) -> Path:
    """Copy a clip's video packets into a new MP4 whose display matrix asks for a rotation."""
    with av.open(str(src)) as source, av.open(str(dst), "w") as target:
        video = source.streams.video[0]
        stream = target.add_stream_from_template(video)
        stream.set_display_rotation(-clockwise)  # PyAV takes the counter-clockwise angle
        for packet in source.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    return dst


def _first_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                return frames
    return frames


@pytest.fixture(scope="module")
def transcoded(tmp_path_factory, video_dir: Path) -> dict[str, Path]:
    """A real clip re-encoded as VP9 WebM, H.264 MKV, MPEG-4 AVI and HEVC MOV."""
    folder = tmp_path_factory.mktemp("transcoded")
    src = video_dir / "lp_d18.mp4"
    return {
        "vp9": _transcode(
            src, folder / "clip.webm", "libvpx-vp9", deadline="realtime", **{"cpu-used": "8"}
        ),
        "h264": _transcode(src, folder / "clip.mkv", "libx264", preset="ultrafast"),
        "mpeg4": _transcode(src, folder / "clip.avi", "mpeg4"),
        "hevc": _transcode(
            src,
            folder / "clip.mov",
            "libx265",
            preset="ultrafast",
            **{"x265-params": "log-level=error"},
        ),
    }


# -- real clips ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "frames", "width", "height", "codec"), REAL_CLIPS)
def test_real_clips_yield_every_frame_upright_rgb(
    video_dir: Path, name: str, frames: int, width: int, height: int, codec: str
) -> None:
    with open_source(video_dir / name) as source:
        info = source.info
        assert (info.kind, info.frame_count, info.width, info.height) == (
            "video",
            frames,
            width,
            height,
        )
        assert info.codec == codec and info.rotation == 0
        indices, last_time = [], -1.0
        for frame in source.iter_frames():
            indices.append(frame.index)
            assert frame.image.shape == (height, width, 3)
            assert frame.image.dtype == np.uint8 and frame.image.flags.c_contiguous
            assert frame.timestamp_s is not None and frame.timestamp_s > last_time
            last_time = frame.timestamp_s
    assert indices == list(range(frames))


def test_frame_counts_match_a_full_decode_for_every_shared_clip(video_dir: Path) -> None:
    for path in sorted(video_dir.iterdir()):
        with open_source(path) as source:
            assert source.frame_count == _decode_count(path), path.name


def test_video_info_describes_the_clip(video_dir: Path) -> None:
    with open_source(video_dir / "WolfgangLanger_Pexels.mp4") as source:
        info = source.info
    assert info.fps == pytest.approx(23.976, abs=1e-3)
    assert info.duration_s == pytest.approx(19.69, abs=0.05)
    assert info.has_audio and info.stem == "WolfgangLanger_Pexels"
    with open_source(video_dir / "tears_of_steel_clip.mp4") as source:
        assert not source.info.has_audio


def test_frames_are_named_after_the_video_and_index(video_dir: Path) -> None:
    with open_source(video_dir / "single_face.mp4") as source:
        names = [frame.name for frame in source.iter_frames(every_n=10)]
    assert names[:3] == ["single_face_000000", "single_face_000010", "single_face_000020"]


def test_portrait_phone_clip_is_720_wide_and_1280_tall(video_dir: Path) -> None:
    # lp_d13 is stored portrait (no display matrix), so it needs no rotation.
    with open_source(video_dir / "lp_d13.mp4") as source:
        assert (source.info.width, source.info.height, source.info.rotation) == (720, 1280, 0)
        assert next(source.iter_frames()).image.shape == (1280, 720, 3)


def test_skipped_and_strided_frames_keep_their_true_indices(video_dir: Path) -> None:
    with open_source(video_dir / "lp_d18.mp4") as source:
        got = [frame.index for frame in source.iter_frames(skip={0, 4, 5, 100}, every_n=2)]
    assert got == [i for i in range(0, 216, 2) if i not in {0, 4, 100}]


def test_threaded_and_single_threaded_decoding_agree(video_dir: Path) -> None:
    path = video_dir / "lp_s32.mp4"
    with open_source(path) as fast, open_source(path, threads=False) as slow:
        for a, b in zip(fast.iter_frames(every_n=45), slow.iter_frames(every_n=45), strict=True):
            assert a.index == b.index and np.array_equal(a.image, b.image)


@pytest.mark.parametrize("name", ["lp_d18.mp4", "no_face.mp4", "face_noface.mov"])
def test_read_frame_matches_sequential_decoding(video_dir: Path, name: str) -> None:
    with open_source(video_dir / name) as source:
        wanted = [0, 1, 37, source.frame_count // 2, source.frame_count - 1]
        sequential = {f.index: f for f in source.iter_frames() if f.index in wanted}
        for index in reversed(wanted):  # backwards, so every read needs a real seek
            frame = source.read_frame(index)
            assert frame.name == sequential[index].name
            assert frame.timestamp_s == sequential[index].timestamp_s
            assert np.array_equal(frame.image, sequential[index].image), index
        with pytest.raises(IndexError):
            source.read_frame(source.frame_count)


# -- made from real clips ------------------------------------------------------------------


@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_rotation_metadata_is_applied_to_the_pixels(
    tmp_path: Path, video_dir: Path, clockwise: int
) -> None:
    src = video_dir / "single_face.mp4"  # 640 x 360
    rotated = _remux_rotated(src, tmp_path / f"rot{clockwise}.mp4", clockwise)
    turn = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    stored = _first_frames(src, 2)
    with open_source(rotated) as source:
        info = source.info
        assert info.rotation == clockwise and info.frame_count == 72
        assert (info.width, info.height) == ((360, 640) if clockwise != 180 else (640, 360))
        frames = [frame for frame, _ in zip(source.iter_frames(), range(2), strict=False)]
        assert frames[0].image.shape == (info.height, info.width, 3)
        for frame, original in zip(frames, stored, strict=True):
            assert frame.image.flags.c_contiguous
            assert np.array_equal(frame.image, cv2.rotate(original, turn[clockwise]))
        assert np.array_equal(source.read_frame(1).image, frames[1].image)


@pytest.mark.parametrize("codec", ["vp9", "h264", "mpeg4", "hevc"])
def test_other_containers_and_codecs_decode_exactly(transcoded: dict[str, Path], codec: str):
    path = transcoded[codec]
    with open_source(path) as source:
        assert source.info.codec == codec
        assert (source.frame_count, source.info.width, source.info.height) == (30, 240, 240)
        frames = list(source.iter_frames())
        for index in (29, 11, 0):
            assert np.array_equal(source.read_frame(index).image, frames[index].image)
    assert [frame.index for frame in frames] == list(range(30))
    assert all(frame.image.flags.c_contiguous for frame in frames)
    assert all(b.timestamp_s > a.timestamp_s for a, b in zip(frames, frames[1:], strict=False))


# -- image folders -------------------------------------------------------------------------


def test_natural_sort_orders_numbers_by_value() -> None:
    names = ["img10.png", "img2.png", "IMG1.png", "img2b.png", "a.png"]
    assert sorted(names, key=natural_sort_key) == [
        "a.png",
        "IMG1.png",
        "img2.png",
        "img2b.png",
        "img10.png",
    ]


@pytest.fixture
def image_folder(tmp_path: Path, data_dir: Path) -> Path:
    """Real photos saved as RGB, RGBA, grayscale and 16-bit files, plus files to ignore."""
    folder = tmp_path / "shots"
    folder.mkdir()
    photo = cv2.imread(str(data_dir / "photos" / "astronaut.png"), cv2.IMREAD_COLOR)
    photo = cv2.resize(photo, (96, 64))  # wide, so any rotation would show in the shape
    cv2.imwrite(str(folder / "img10.png"), photo)
    cv2.imwrite(str(folder / "img2.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "img1.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "img3.tiff"), photo.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "img4.webp"), photo, [cv2.IMWRITE_WEBP_QUALITY, 101])
    cv2.imwrite(str(folder / "img5.bmp"), photo)
    (folder / "notes.txt").write_text("not an image")
    (folder / "._img1.png").write_bytes(b"macOS resource fork")
    return folder


def test_image_folder_is_read_in_natural_order_as_rgb(image_folder: Path, data_dir: Path):
    photo = cv2.resize(
        cv2.imread(str(data_dir / "photos" / "astronaut.png"), cv2.IMREAD_COLOR), (96, 64)
    )
    rgb = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    with open_source(image_folder) as source:
        info = source.info
        assert (info.kind, info.frame_count, info.width, info.height) == ("images", 6, 96, 64)
        assert info.stem == "shots" and info.fps is None and not info.has_audio
        frames = list(source.iter_frames())
    assert [f.name for f in frames] == [
        "img1.png",
        "img2.png",
        "img3.tiff",
        "img4.webp",
        "img5.bmp",
        "img10.png",
    ]
    assert [f.index for f in frames] == list(range(6))
    for frame in frames:
        assert frame.image.shape == (64, 96, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous and frame.timestamp_s is None
    assert np.array_equal(frames[0].image, np.dstack([gray] * 3))  # grayscale
    for frame in frames[1:]:  # RGBA (alpha dropped), 16-bit, lossless webp, bmp, png
        assert np.array_equal(frame.image, rgb), frame.name


def test_image_folder_honours_exif_orientation(tmp_path: Path, data_dir: Path) -> None:
    photo = Image.open(data_dir / "photos" / "grace_hopper.jpg").convert("RGB").resize((120, 80))
    exif = photo.getexif()
    exif[0x0112] = 6  # stored sideways: show it turned 90 degrees clockwise
    folder = tmp_path / "exif"
    folder.mkdir()
    photo.save(folder / "sideways.jpg", exif=exif, quality=95)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(folder / "sideways.jpg")))
    with open_source(folder) as source:
        assert (source.info.width, source.info.height) == (80, 120)
        image = next(source.iter_frames()).image
    assert image.shape == expected.shape == (120, 80, 3)
    assert np.abs(image.astype(int) - expected).mean() < 3  # two JPEG decoders


def test_single_image_file_is_a_one_frame_source(data_dir: Path) -> None:
    with open_source(data_dir / "photos" / "obama3.jpg") as source:
        assert source.info.kind == "images" and source.frame_count == 1
        assert source.read_frame(0).name == "obama3.jpg"


# -- bad input -----------------------------------------------------------------------------


def test_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist") as caught:
        open_source(tmp_path / "nowhere.mp4")
    assert "nowhere.mp4" in caught.value.message and caught.value.hint


def test_folder_without_images_lists_the_formats_read(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(InputError, match=r"holds no images \(png, jpg, jpeg") as caught:
        open_source(tmp_path)
    assert str(tmp_path) in caught.value.message


def test_undecodable_image_is_named_after_the_good_ones_are_yielded(
    image_folder: Path,
) -> None:
    (image_folder / "img7.png").write_text("this is text, not a PNG")
    yielded = []
    with open_source(image_folder) as source:
        with pytest.raises(InputError, match="img7.png cannot be decoded"):
            for frame in source.iter_frames():
                yielded.append(frame.name)
    assert yielded == ["img1.png", "img2.png", "img3.tiff", "img4.webp", "img5.bmp"]


def test_text_file_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video\n" * 100)
    with pytest.raises(InputError, match="holiday.mp4 is not a video FFmpeg can read"):
        open_source(fake)


def test_audio_only_file_has_no_video_stream(tmp_path: Path, video_dir: Path) -> None:
    audio_only = tmp_path / "voice.mp4"
    with av.open(str(video_dir / "lp_d18.mp4")) as source, av.open(str(audio_only), "w") as out:
        audio = source.streams.audio[0]
        stream = out.add_stream_from_template(audio)
        for packet in source.demux(audio):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    with pytest.raises(InputError, match="voice.mp4 has no video stream"):
        open_source(audio_only)


def _cut_in_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def test_truncated_video_yields_what_decodes_then_raises(tmp_path: Path, video_dir: Path):
    # WolfgangLanger has its index at the front, so half the file still opens.
    half = _cut_in_half(video_dir / "WolfgangLanger_Pexels.mp4", tmp_path / "half.mp4")
    indices: list[int] = []
    with open_source(half) as source:
        assert source.frame_count == 472  # what the index promises
        with pytest.raises(InputError, match=r"half.mp4 is truncated or corrupt after frame \d+"):
            for frame in source.iter_frames(every_n=8):
                indices.append(frame.index)
    assert indices == list(range(0, len(indices) * 8, 8)) and 200 < len(indices) * 8 < 472


def test_truncated_video_can_be_read_to_where_it_breaks(tmp_path: Path, video_dir: Path):
    half = _cut_in_half(video_dir / "WolfgangLanger_Pexels.mp4", tmp_path / "half.mp4")
    with open_source(half, allow_truncated=True) as source:
        count = sum(1 for _ in source.iter_frames(skip=set(range(10, 472))))
        assert count == 10
        assert source.truncated_at is not None and 200 < source.truncated_at < 472
        assert source.frame_count == source.truncated_at


def test_truncated_video_without_its_index_is_rejected_at_open(tmp_path: Path, video_dir: Path):
    # lp_d18 keeps its index (moov) at the end: half the file has none and cannot be read.
    half = _cut_in_half(video_dir / "lp_d18.mp4", tmp_path / "half_d18.mp4")
    with pytest.raises(InputError, match="half_d18.mp4 is not a video FFmpeg can read"):
        open_source(half)


def test_cut_mkv_without_index_ends_early_with_a_warning(
    tmp_path: Path, video_dir: Path, caplog
) -> None:
    # Matroska has no per-frame index to compare with, so a cut file is read to its end and
    # counted exactly; the gap to the declared duration is only worth a warning.
    whole = _transcode(
        video_dir / "lp_d18.mp4",
        tmp_path / "whole.mkv",
        "libx264",
        frames=150,
        size=160,
        preset="ultrafast",
    )
    half = _cut_in_half(whole, tmp_path / "half.mkv")
    with open_source(half) as source:
        assert 30 < source.frame_count < 150
        assert sum(1 for _ in source.iter_frames()) == source.frame_count
    assert "half.mkv: its video ends at" in caplog.text and "may be truncated" in caplog.text


def test_unreadable_video_reports_permissions(tmp_path: Path, video_dir: Path, monkeypatch):
    # Running as root, chmod cannot make a file unreadable, so fail the open itself.
    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(av, "open", refuse)
    with pytest.raises(InputError, match="cannot read .*lp_d18.mp4: permission denied"):
        open_source(video_dir / "lp_d18.mp4")


def test_unreadable_image_is_named(image_folder: Path, monkeypatch) -> None:
    real_fromfile = np.fromfile

    def refuse(path, *args, **kwargs):
        if Path(path).name == "img2.png":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_fromfile(path, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", refuse)
    with open_source(image_folder) as source:
        with pytest.raises(InputError, match="cannot read image .*img2.png: Permission denied"):
            list(source.iter_frames())


def test_frame_stride_below_one_is_a_usage_error(video_dir: Path) -> None:
    with open_source(video_dir / "single_face.mp4") as source:
        with pytest.raises(UsageError, match="every_n must be a whole number of at least 1"):
            source.iter_frames(every_n=0)


# -- batch mode and fingerprints -----------------------------------------------------------


def test_batch_folder_lists_videos_and_image_folders(
    tmp_path: Path, video_dir: Path, image_folder: Path
) -> None:
    (tmp_path / "clip10.mp4").symlink_to(video_dir / "lp_d18.mp4")
    (tmp_path / "clip9.mov").symlink_to(video_dir / "face_noface.mov")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("skip me")
    assert list_batch_inputs(tmp_path) == [
        tmp_path / "clip9.mov",
        tmp_path / "clip10.mp4",
        image_folder,
    ]


def test_batch_folder_without_inputs_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing to do")
    with pytest.raises(InputError, match="holds no videos or image folders"):
        list_batch_inputs(tmp_path)
    with pytest.raises(InputError, match="is not a folder"):
        list_batch_inputs(tmp_path / "notes.txt")


def test_fingerprint_identifies_a_video_by_size_and_ends(tmp_path: Path, video_dir: Path):
    a = source_fingerprint(video_dir / "lp_d18.mp4")
    assert a == source_fingerprint(video_dir / "lp_d18.mp4") and len(a) == 64
    assert a != source_fingerprint(video_dir / "lp_d19.mp4")
    blob = bytearray(np.random.default_rng(0).bytes(3 << 20))
    path = tmp_path / "big.bin"
    path.write_bytes(blob)
    before = source_fingerprint(path)
    blob[-1] ^= 1
    path.write_bytes(blob)
    assert source_fingerprint(path) != before


def test_fingerprint_of_a_folder_follows_its_images(image_folder: Path) -> None:
    before = source_fingerprint(image_folder)
    (image_folder / "other.txt").write_text("not an image, not counted")
    assert source_fingerprint(image_folder) == before
    (image_folder / "img5.bmp").unlink()
    assert source_fingerprint(image_folder) != before
