"""The whole workflow in a real browser: upload A and B, extract both, train, watch the
preview, graph and Analysis, stop, convert, play the video. Screenshots of each tab go to
$FACEFORGE_SCREENSHOTS (default: the test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.gui.browser import GuiPage, running_gui

pytestmark = pytest.mark.slow


def test_upload_extract_train_convert_and_play_in_a_browser(chromium, video_dir, tmp_path):
    shots = Path(os.environ.get("FACEFORGE_SCREENSHOTS", tmp_path / "screens"))
    shots.mkdir(parents=True, exist_ok=True)
    workspace = tmp_path / "workspace"
    with running_gui(workspace) as (url, _, log):
        gui = GuiPage(chromium.new_page(viewport={"width": 1400, "height": 1000}), url)
        gui.open()
        gui.tab("Files")
        gui.page.set_input_files("#files-upload input[type=file]",
                                 [str(video_dir / "lp_d18.mp4"), str(video_dir / "lp_d19.mp4")])
        gui.wait_text("files-uploaded", "sources/lp_d18.mp4", "sources/lp_d19.mp4")
        assert (workspace / "sources" / "lp_d19.mp4").stat().st_size == \
            (video_dir / "lp_d19.mp4").stat().st_size
        gui.screenshot(shots / "files.png")

        gui.tab("Extract")
        gui.open_group("tab-extract", "output")
        for clip, faces in (("lp_d18", "faces/a"), ("lp_d19", "faces/b")):
            gui.fill("extract-input", f"sources/{clip}.mp4")
            gui.fill("extract-output", faces)
            gui.fill("extract-extract_every_n", "3")
            gui.page.wait_for_function(
                "wanted => document.querySelector('#extract-command textarea').value"
                ".includes(wanted)",
                arg=f"--input-dir sources/{clip}.mp4 --output-dir {faces} --extract-every-n 3")
            gui.click("extract-start")
            job = gui.wait_text("extract-message", "queued").split()[-1]
            gui.wait_text("extract-progress", "done", "faces:", job)
        gui.wait_text("extract-summary", "frames", "faces")
        gui.screenshot(shots / "extract.png")

        gui.tab("Train")
        for group in ("model", "training", "saving"):
            gui.open_group("tab-train", group)
        gui.fill("train-input_a", "faces/a")
        gui.fill("train-input_b", "faces/b")
        gui.fill("train-model_dir", "models/ab")
        gui.choose("train-trainer", "quick")
        gui.fill("train-batch_size", "4")
        gui.fill("train-save_interval", "3")
        gui.fill("train-iterations", "100000")
        gui.click("train-start")
        job = gui.wait_text("train-message", "queued").split()[-1]
        gui.wait_text("train-progress", "running", "EGs/s", job)
        gui.wait_image("train-preview")
        gui.wait_image("train-graph", 60)
        gui.screenshot(shots / "train-graph.png")
        gui.page.get_by_role("tab", name="Analysis").click()
        gui.wait_text("train-analysis", "total")
        gui.screenshot(shots / "train-analysis.png")
        gui.click("train-stop")
        gui.wait_text("train-progress", "stopped")

        gui.tab("Convert")
        gui.fill("convert-input", "sources/lp_d18.mp4")
        gui.fill("convert-output", "outputs")
        gui.fill("convert-model_dir", "models/ab")
        gui.click("convert-start")
        job = gui.wait_text("convert-message", "queued").split()[-1]
        gui.wait_text("convert-progress", "done", job)
        video = gui.page.locator("#convert-video video")
        video.wait_for(timeout=60_000)
        duration = gui.page.wait_for_function(
            "() => { const v = document.querySelector('#convert-video video');"
            " return v && v.readyState >= 1 && v.duration > 0 ? v.duration : null; }",
            timeout=60_000).json_value()
        assert 6.5 < duration < 8.0, duration  # lp_d18 is 7.2 s long
        gui.screenshot(shots / "convert.png")
        gui.tab("Jobs")
        gui.wait_text("jobs-table", "convert", "train", "extract")
        gui.screenshot(shots / "jobs.png")

        gui.tab("Tools")  # a tool's form, made from its option set, run as a job
        gui.choose("tools-picker", "alignments summary: print frames, faces and problem frames")
        gui.fill("tools-alignments-summary-alignments", "sources/lp_d18_alignments.db")
        gui.click("tools-alignments-summary-start")
        gui.wait_text("tools-alignments-summary-message", "queued")
        from faceforge.formats.alignments import AlignmentsStore

        with AlignmentsStore.open(workspace / "sources" / "lp_d18_alignments.db", "r") as store:
            faces = store.summary()["faces"]
        gui.wait_text("tools-result", "frames_without_faces", f"{faces}")
        gui.screenshot(shots / "tools.png")
        assert gui.outside == [], f"requests left the machine: {gui.outside[:5]}"
        assert "Traceback" not in log.read_text()
