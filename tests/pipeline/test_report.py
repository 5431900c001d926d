"""`faceforge report` scores what it should: validated on real clips whose answer is known.

The source scored against itself is perfect; B's own video as the "output" is B; a blurred
output is less sharp; an output shaken from frame to frame jitters. The first 34 frames of the
two men of the shared footage, every 3rd, keep each run to seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from faceforge.cli import main
from faceforge.pipeline import report as report_module
from faceforge.pipeline.report import ReportConfig, report

FRAMES, EVERY, CLIP_FRAMES = 12, 3, 36


@pytest.fixture(autouse=True)
def few_reference_faces(monkeypatch):
    """B's identity from 8 frames of B's video instead of 32: the same answer, sooner."""
    monkeypatch.setattr(report_module, "REFERENCE_FACES", 8)


def test_report_is_a_job_whose_command_line_gives_the_same_config():
    from faceforge.cli import _config, build_parser
    from faceforge.jobs.kinds import KINDS, build_config, command_line

    values = {"converted": "out/a_converted.mp4", "source": "a.mp4", "output": "report",
              "model_dir": "model", "frames": "20"}
    config = build_config("report", values)
    assert config == ReportConfig(converted="out/a_converted.mp4", source="a.mp4",
                                  output="report", model_dir="model", frames=20)
    line = command_line("report", values)
    assert line == "faceforge report out/a_converted.mp4 --source a.mp4 --output report " \
                   "--model model --frames 20"
    assert _config(ReportConfig, build_parser().parse_args(line.split()[1:])) == config
    assert KINDS["report"].function().__doc__ and KINDS["report"].uses_device


def _config(video_dir: Path, converted: Path, out: Path, source: str = "lp_d18.mp4"
            ) -> ReportConfig:
    return ReportConfig(converted=converted, source=video_dir / source, output=out,
                        faces_b=video_dir / "lp_d19.mp4", frames=FRAMES, every=EVERY)


def _write_altered(source: Path, target: Path, alter) -> Path:
    """The first CLIP_FRAMES frames of `source`, each changed by alter(index, rgb), as H.264
    at near-lossless quality."""
    with av.open(str(source)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == CLIP_FRAMES:
                break
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "8", "preset": "fast"})
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for index, image in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(alter(index, image)),
                                                 format="rgb24")
            out.mux(stream.encode(picture))
        out.mux(stream.encode())
    return target


@pytest.mark.slow
def test_the_source_scored_against_itself_is_perfect(video_dir, tmp_path):
    out = tmp_path / "report"
    source = video_dir / "lp_d18.mp4"
    assert main(["report", str(source), "-s", str(source), "-B", str(video_dir / "lp_d19.mp4"),
                 "-o", str(out), "-n", str(FRAMES), "--every", str(EVERY),
                 "-L", "WARNING"]) == 0
    summary = json.loads((out / "report.json").read_text())
    assert summary["frames"]["paired"] == FRAMES
    assert summary["sharpness"]["ratio_median"] == pytest.approx(1.0, abs=1e-6)
    assert summary["seam"]["ratio_median"] == pytest.approx(1.0, abs=1e-6)
    assert summary["stability"]["jitter_px"] == pytest.approx(0.0, abs=1e-6)
    assert summary["stability"]["colour_flicker_levels"] == pytest.approx(0.0, abs=1e-6)
    assert summary["identity"]["nearer_b_share"] == 0.0
    assert summary["identity"]["distance_to_a"] < 0.4 < summary["identity"]["distance_to_b"]
    assert summary["expression"]["mouth_opening_correlation"] == pytest.approx(1.0)
    assert summary["expression"]["mouth_opening_error"] == pytest.approx(0.0, abs=1e-9)
    # the mouth is closed in frames 0-33 of lp_d18 (gaps 0.003-0.022 face sizes)
    assert summary["expression"]["mouth_open_share"] == 0.0
    assert summary["expression"]["eye_opening_correlation"] == pytest.approx(1.0)
    assert summary["pose"]["yaw_difference_deg"] == pytest.approx(0.0, abs=1e-6)
    assert summary["pose"]["pitch_varying_deg"] == pytest.approx(0.0, abs=1e-6)
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # self-contained
    assert page.count("data:image/") == 8  # the contact sheet and seven plots
    assert len(summary["worst_frames"]["sharpness"]) == 3
    assert (out / "contact_sheet.jpg").stat().st_size > 0


@pytest.mark.slow
def test_b_own_video_as_the_output_is_nearer_b_and_picked_out_of_a_gallery(data_dir,
                                                                          video_dir, tmp_path):
    config = _config(video_dir, video_dir / "lp_d19.mp4", tmp_path / "report")
    config.gallery = data_dir / "photos" / "knn_examples" / "train"  # five other people
    result = report(config)
    identity = result.summary["identity"]
    assert result.summary["frames"]["paired"] >= FRAMES - 1
    assert identity["nearer_b_share"] == 1.0
    assert identity["distance_to_b"] < 0.4 < identity["distance_to_a"]
    assert identity["gallery"]["candidates"] == 7  # B, A and the five
    assert identity["gallery"]["b_first_share"] == 1.0
    assert result.summary["gallery"] == ["alex_lacamoire", "biden", "kit_harington", "obama",
                                         "rose_leslie"]


@pytest.fixture(scope="module")
def reencoded(video_dir, tmp_path_factory) -> dict:
    """The report of an unaltered re-encoded copy: the control for the altered ones (the
    landmarker sees compression noise as about 1.3 px of jitter on these 190 px faces)."""
    folder = tmp_path_factory.mktemp("reencoded")
    copy = _write_altered(video_dir / "lp_d18.mp4", folder / "copy.mp4", lambda _, image: image)
    return report(_config(video_dir, copy, folder / "report")).summary


@pytest.mark.slow
def test_a_blurred_output_is_less_sharp(video_dir, tmp_path, reencoded):
    blurred = _write_altered(video_dir / "lp_d18.mp4", tmp_path / "blurred.mp4",
                             lambda _, image: cv2.GaussianBlur(image, (0, 0), 2.5))
    summary = report(_config(video_dir, blurred, tmp_path / "report")).summary
    assert reencoded["sharpness"]["ratio_median"] == pytest.approx(1.0, abs=0.15)
    assert summary["sharpness"]["ratio_median"] < 0.3
    assert summary["identity"]["nearer_b_share"] == 0.0  # still A, only softer
    assert summary["frames"]["paired"] == FRAMES


@pytest.mark.slow
def test_a_shaken_output_jitters(video_dir, tmp_path, reencoded):
    shifts = np.random.default_rng(0).integers(-6, 7, size=(CLIP_FRAMES, 2))

    def shake(index: int, image: np.ndarray) -> np.ndarray:
        matrix = np.float64([[1, 0, shifts[index, 0]], [0, 1, shifts[index, 1]]])
        return cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)

    shaken = _write_altered(video_dir / "lp_d18.mp4", tmp_path / "shaken.mp4", shake)
    summary = report(_config(video_dir, shaken, tmp_path / "report")).summary
    stability = summary["stability"]
    assert stability["jitter_px"] > reencoded["stability"]["jitter_px"] + 2.0
    assert stability["landmark_motion_excess_px"] > 2.0
    assert abs(reencoded["stability"]["landmark_motion_excess_px"]) < 0.5
    # The shake is what moved; sharpness and identity barely change.
    assert summary["sharpness"]["ratio_median"] > 0.6
    assert summary["identity"]["nearer_b_share"] == 0.0
