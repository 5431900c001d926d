"""Jobs: the library call in a worker process, structured events, stop, restart, kill."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from faceforge.cli import build_parser
from faceforge.errors import UsageError
from faceforge.formats.model_state import read_state
from faceforge.jobs.kinds import build_config, command_line
from faceforge.jobs.manager import JobManager

pytestmark = pytest.mark.slow


def wait_for(condition, timeout: float = 180.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def settle(manager: JobManager, job_id: str, timeout: float = 300.0) -> str:
    def finished() -> str | None:
        manager.poll()
        state = manager.job(job_id).status().state
        return state if state in ("done", "failed", "stopped") else None
    return wait_for(finished, timeout)


def test_an_extract_job_runs_in_its_own_process_and_reports_events(tmp_path, video_dir):
    manager = JobManager(tmp_path)
    values = {"input": str(video_dir / "single_face.mp4"), "output": "faces/single",
              "alignments": "single.db"}
    job = manager.submit("extract", values)
    assert settle(manager, job.id) == "done", job.log_tail()
    status = job.status()
    assert status.exit_code == 0 and status.pid != os.getpid()
    events, _ = job.read_events()
    progress = [e for e in events if e["kind"] == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 72
    assert progress[-1]["counts"]["faces"] >= 70 and progress[-1]["unit"] == "frame"
    result = json.loads((job.path / "result.json").read_text())["result"][0]
    assert result["faces_written"] == len(list((tmp_path / "faces" / "single").glob("*.png")))
    assert (tmp_path / "single.db").exists(), "the job ran in the workspace folder"
    assert "extract" in job.request()["command_line"]


def test_the_form_values_and_their_command_line_give_the_same_config(tmp_path):
    values = {"input": "sources/a.mp4", "output": "faces/a", "detector": "hog",
              "masker": ["extended"], "min_size": "40", "rotate": "90", "identity": True,
              "size": 256}
    line = command_line("extract", values)
    assert line.startswith("faceforge extract ") and "--detector hog" in line
    from faceforge.cli import _config
    from faceforge.pipeline.extract import ExtractConfig

    args = build_parser().parse_args(line.split()[1:])
    assert _config(ExtractConfig, args) == build_config("extract", values)
    train = {"input_a": "faces/a", "input_b": "faces/b", "model_dir": "models/m",
             "trainer": "quick", "batch_size": 8, "loss": ["ssim", "mae"], "write_image": True}
    from faceforge.training import TrainConfig

    args = build_parser().parse_args(command_line("train", train).split()[1:])
    assert _config(TrainConfig, args) == build_config("train", train)
    convert = {"input": "sources/a.mp4", "output": "outputs", "model_dir": "models/m",
               "frame_ranges": "10-20 30-40", "color": "match-hist", "sharpen": "unsharp-mask"}
    from faceforge.pipeline.convert import ConvertConfig

    args = build_parser().parse_args(command_line("convert", convert).split()[1:])
    assert _config(ConvertConfig, args) == build_config("convert", convert)


@pytest.mark.parametrize("values, message", [
    ({"input": "a.mp4", "output": "o", "detector": "nope"}, "--detector 'nope' is not one of"),
    ({"input": "a.mp4"}, "--output-dir is required"),
    ({"input": "a.mp4", "output": "o", "min_size": "big"}, "--min-size 'big' is not valid"),
    ({"input": "a.mp4", "output": "o", "size": 100000}, "--size 100000 is out of range"),
    ({"input": "a.mp4", "output": "o", "nonsense": 1}, "extract has no option nonsense"),
])
def test_bad_values_are_refused_before_any_job_starts(tmp_path, values, message):
    manager = JobManager(tmp_path)
    with pytest.raises(UsageError, match=message):
        manager.submit("extract", values)
    assert manager.jobs() == []


def _train_values(faces: dict[str, Path], model: Path, iterations: int) -> dict:
    return {"input_a": str(faces["a"]), "input_b": str(faces["b"]), "model_dir": str(model),
            "trainer": "quick", "batch_size": 4, "iterations": iterations,
            "save_interval": 1000, "no_identity": True}


def test_stopping_a_training_job_saves_it_and_running_it_again_resumes(faces, tmp_path):
    manager = JobManager(tmp_path)
    model = tmp_path / "models" / "m"
    job = manager.submit("train", _train_values(faces, model, 100000))
    wait_for(lambda: any(e["kind"] == "losses" for e in job.read_events()[0]))
    manager.stop(job.id)
    assert settle(manager, job.id) == "stopped", job.log_tail()
    saved = read_state(model).iterations
    assert saved >= 1 and "training stopped at iteration" in job.status().message
    assert any(e["kind"] == "saved" and e["iteration"] == saved for e in job.read_events()[0])
    again = manager.submit("train", _train_values(faces, model, saved + 2))
    assert settle(manager, again.id) == "done", again.log_tail()
    state = read_state(model)
    assert state.iterations == saved + 2 and state.sessions[-1].start_iteration == saved


def test_jobs_outlive_their_manager_and_a_killed_job_is_marked_failed(faces, tmp_path):
    first = JobManager(tmp_path)
    job = first.submit("train", _train_values(faces, tmp_path / "models" / "m", 100000))
    wait_for(lambda: any(e["kind"] == "losses" for e in job.read_events()[0]))
    restarted = JobManager(tmp_path)  # as a new GUI process would
    assert restarted.job(job.id).status().state == "running", "reattached, still running"
    losses = len([e for e in job.read_events()[0] if e["kind"] == "losses"])
    wait_for(lambda: len([e for e in job.read_events()[0] if e["kind"] == "losses"]) > losses)
    os.kill(job.status().pid, signal.SIGKILL)
    wait_for(lambda: (restarted.watch(), job.status().state == "failed")[1], timeout=30)
    assert "ended without finishing" in job.status().message
    first.poll()  # the manager that started it reaps the process, and agrees
    assert job.status().state == "failed"
