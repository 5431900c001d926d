"""`tools media ...` on the shared clips, with PyAV only: frames, videos, audio, slices, sizes,
turns; and a video stopped or killed half-way never appears under its name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from faceforge.io import open_source
from faceforge.tools import media
from tests.tools.helpers import run_cli

pytestmark = pytest.mark.slow


def facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = container.streams.audio
        audio_s = None
        if audio:
            samples = sum(f.samples for f in container.decode(audio=0))
            audio_s = samples / audio[0].codec_context.sample_rate
        rate = float(container.streams.video[0].average_rate)
    return {"frames": frames, "audio_s": audio_s, "fps": rate}


def test_info_tells_frames_size_rate_and_audio(video_dir, capsys):
    assert run_cli("tools", "media", "info", "-i", video_dir / "lp_d18.mp4") == 0
    out = capsys.readouterr().out
    assert "frames: 216" in out and "width: 480" in out and "fps: 30" in out
    assert "audio 0: codec aac" in out


def test_frames_writes_the_chosen_frames_exactly(video_dir, tmp_path):
    result = media.frames(media.FramesConfig(input=video_dir / "lp_d18.mp4",
                                             output=tmp_path / "f", frames=(10, 29),
                                             every_n=5))
    names = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert names == [f"lp_d18_{i:06d}.png" for i in (10, 15, 20, 25)]
    assert result.frames == 4
    with open_source(video_dir / "lp_d18.mp4") as source:
        for index in (10, 25):
            image = cv2.cvtColor(cv2.imread(str(tmp_path / "f" / f"lp_d18_{index:06d}.png")),
                                 cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(image, source.read_frame(index).image)


def test_video_from_images_takes_the_rate_and_another_files_audio(video_dir, tmp_path):
    media.frames(media.FramesConfig(input=video_dir / "lp_d18.mp4", output=tmp_path / "f",
                                    frames=(0, 59)))
    out = tmp_path / "made.mp4"
    assert run_cli("tools", "media", "video", "-i", tmp_path / "f", "-o", out, "-fps", 30,
                   "-r", video_dir / "lp_d19.mp4") == 0
    made = facts(out)
    assert len(made["frames"]) == 60 and made["fps"] == 30
    assert made["audio_s"] == pytest.approx(2.0, abs=0.05)  # cut to the video's 2 s
    original = cv2.cvtColor(cv2.imread(str(tmp_path / "f" / "lp_d18_000030.png")),
                            cv2.COLOR_BGR2RGB)
    assert np.abs(made["frames"][30].astype(int) - original).mean() < 4  # CRF 18
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_slice_keeps_those_frames_and_their_audio(video_dir, tmp_path):
    out = tmp_path / "cut.mp4"
    assert run_cli("tools", "media", "slice", "-i", video_dir / "lp_d18.mp4", "-o", out,
                   "--frames", "30-89") == 0
    cut = facts(out)
    assert len(cut["frames"]) == 60
    assert cut["audio_s"] == pytest.approx(2.0, abs=0.05)
    with open_source(video_dir / "lp_d18.mp4") as source:
        first = source.read_frame(30).image
    assert np.abs(cut["frames"][0].astype(int) - first).mean() < 4


def test_mux_audio_puts_another_files_sound_under_the_same_picture(video_dir, tmp_path):
    out = tmp_path / "d19_with_d18_audio.mp4"
    assert run_cli("tools", "media", "mux-audio", "-i", video_dir / "lp_d19.mp4", "-r",
                   video_dir / "lp_d18.mp4", "-o", out) == 0
    muxed, picture = facts(out), facts(video_dir / "lp_d19.mp4")
    assert len(muxed["frames"]) == 250
    np.testing.assert_array_equal(muxed["frames"][100], picture["frames"][100])  # copied
    # lp_d18's sound is 216 frames long: the rest of the 250 frames is silence.
    assert muxed["audio_s"] == pytest.approx(250 / 30, abs=0.05)


def test_rescale_and_rotate_change_the_picture_and_keep_the_sound(video_dir, tmp_path):
    clip = video_dir / "single_face.mp4"
    half, turned = tmp_path / "half.mp4", tmp_path / "turned.mkv"
    assert run_cli("tools", "media", "rescale", "-i", clip, "-o", half, "-sc", "50%") == 0
    assert run_cli("tools", "media", "rotate", "-i", clip, "-o", turned, "-de", "90") == 0
    source, small, upright = facts(clip), facts(half), facts(turned)
    assert small["frames"][0].shape == (180, 320, 3)
    assert upright["frames"][0].shape == (640, 360, 3)
    assert len(small["frames"]) == len(upright["frames"]) == len(source["frames"]) == 72
    expected = np.rot90(source["frames"][20], k=-1)
    assert np.abs(upright["frames"][20].astype(int) - expected).mean() < 5
    assert small["audio_s"] == pytest.approx(source["audio_s"], abs=0.05)
    assert media.new_size("640x-1", 1280, 720) == (640, 360)


def test_a_video_stopped_or_killed_half_way_never_appears(video_dir, tmp_path):
    frames = tmp_path / "f"
    media.frames(media.FramesConfig(input=video_dir / "lp_d19.mp4", output=frames))
    out = tmp_path / "out" / "made.mp4"
    out.parent.mkdir()
    command = [sys.executable, "-m", "faceforge.cli", "tools", "media", "video", "-i",
               str(frames), "-o", str(out), "-r", str(video_dir / "lp_d19.mp4"), "-L", "ERROR"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # Ctrl-C: it stops, says so, and removes its partial files.
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_partial(out.parent)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []
    # kill -9: no file under the output's name; a rerun makes the whole video.
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    _wait_for_partial(out.parent)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert all(".partial-" in p.name for p in out.parent.iterdir())
    assert subprocess.run(command, env=env, timeout=300).returncode == 0
    assert len(facts(out)["frames"]) == 250
    assert list(out.parent.iterdir()) == [out], "the killed run's partial files are gone"


def _wait_for_partial(folder: Path, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        partial = [p for p in folder.iterdir() if ".partial-" in p.name]
        if partial and partial[0].stat().st_size > 0:
            return
        time.sleep(0.05)
    raise AssertionError("the video was never started")


def test_an_existing_output_is_never_replaced(video_dir, tmp_path):
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"someone's video")
    assert run_cli("tools", "media", "rotate", "-i", video_dir / "single_face.mp4", "-o", out,
                   "-de", "180") == 4
    assert out.read_bytes() == b"someone's video"
