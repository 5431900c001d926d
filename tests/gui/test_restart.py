"""Jobs outlive the GUI: kill -9 the GUI while a training job runs, the job goes on, and the
restarted GUI shows it live; kill -9 the job, the GUI says it failed; run again resumes."""

from __future__ import annotations

import os
import signal
import time

import pytest

from faceforge.formats.model_state import read_state
from faceforge.jobs.folder import JobFolder
from faceforge.jobs.kinds import command_line
from tests.gui.browser import GuiPage, running_gui

pytestmark = pytest.mark.slow


def _losses(job: JobFolder) -> int:
    return sum(1 for e in job.read_events()[0] if e["kind"] == "losses")


def _wait(condition, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_a_job_outlives_a_killed_gui_and_a_killed_job_is_marked_failed(chromium, faces,
                                                                        tmp_path):
    workspace = tmp_path / "workspace"
    values = {"input_a": str(faces["a"]), "input_b": str(faces["b"]), "model_dir": "models/m",
              "trainer": "quick", "batch_size": 4, "iterations": 100000, "save_interval": 5,
              "no_identity": True, "write_image": True}
    with running_gui(workspace, stop_jobs=False) as (_, gui_process, _):
        # Queued the way the page queues it; the GUI's own queue starts it, as its child.
        job = JobFolder.create(workspace / "jobs", "train", values,
                               command_line("train", values))
        _wait(lambda: _losses(job) > 0)
        worker = job.status().pid
        os.killpg(gui_process.pid, signal.SIGKILL)  # the GUI dies, the job must not
        gui_process.wait(10)
    before = _losses(job)
    _wait(lambda: _losses(job) > before + 3, 60)
    assert job.status().state == "running" and job.status().pid == worker
    with running_gui(workspace) as (url, _, log):
        gui = GuiPage(chromium.new_page(viewport={"width": 1400, "height": 1000}), url)
        gui.open()
        gui.tab("Train")
        gui.wait_text("train-progress", "running", "EGs/s")
        gui.wait_image("train-graph", 60)
        os.kill(worker, signal.SIGKILL)
        gui.wait_text("train-progress", "failed", "ended without finishing")
        gui.tab("Jobs")
        gui.wait_text("jobs-table", "failed")
        gui.choose("jobs-chosen", job.id)
        gui.page.get_by_role("button", name="Run again").click()
        _wait(lambda: sum(1 for j in (workspace / "jobs").iterdir()
                          if (j / "job.json").exists()) == 2)
        model = workspace / "models" / "m"
        _wait(lambda: len(read_state(model).sessions) >= 2)  # the rerun's first save
        resumed_from = read_state(model).sessions[-1].start_iteration
        assert resumed_from >= 5, "the rerun resumed from the last save"
        gui.tab("Train")
        gui.click("train-stop")
        gui.wait_text("train-progress", "stopped")
        assert "Traceback" not in log.read_text()
