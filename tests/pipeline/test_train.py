"""`faceforge train` end to end on real extracted faces, with tiny iteration counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from faceforge.cli import main
from faceforge.formats.model_state import read_state
from faceforge.io.tensorboard import read_scalars

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def train_args(faces: dict[str, Path], model: Path, *extra: str) -> list[str]:
    return ["train", "-A", str(faces["a"]), "-B", str(faces["b"]), "-m", str(model), "-t",
            "quick", "-bs", "4", "-L", "WARNING", *extra]


def test_train_saves_state_weights_logs_and_preview(faces, tmp_path):
    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "4", "-s", "2", "-w", "-ss", "4")) == 0
    state = read_state(model)
    assert state.trainer == "quick" and state.iterations == 4
    assert state.model_config["learning_rate"] == pytest.approx(2e-4)
    assert (model / state.files["weights"]).exists()
    assert (model / state.files["optimizer"]).exists()
    assert len(list(model.glob("weights-*.safetensors"))) == 1, "old saves are removed"
    session = state.sessions[-1]
    assert session.iterations == 4 and session.batch_size == 4 and session.egs_per_s > 0
    lines = [json.loads(line) for line in (model / "loss_log.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "loss_a" in line]
    assert [s["iteration"] for s in steps] == [1, 2, 3, 4]
    assert any("identity/a2b_to_b" in line for line in lines)
    events = read_scalars(next((model / "logs").glob("events.out.tfevents.*")))
    assert {tag for _, tag, _ in events} >= {"loss/a", "loss/b", "identity/a2b_to_b",
                                              "quality/a2b_mouth_correlation",
                                              "quality/a2b_sharpness_ratio"}
    scores = [line for line in lines if "quality/a2b_sharpness_ratio" in line]
    assert [s["iteration"] for s in scores] == [2, 4] and "identity/a2b_to_b" in scores[-1]
    assert all(s["quality/a2b_sharpness_ratio"] > 0 for s in scores)
    assert (model / "preview.png").stat().st_size > 1000
    assert (model / "backups" / "state.json").exists()
    assert read_state(model / "snapshots" / "000000004").iterations == 4


def test_rerun_resumes_at_the_saved_iteration_with_the_optimizer_state(faces, tmp_path):
    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "3", "-s", "3")) == 0
    assert main(train_args(faces, model, "-it", "5", "-s", "5")) == 0
    state = read_state(model)
    assert state.iterations == 5
    assert [(s.start_iteration, s.iterations) for s in state.sessions] == [(0, 3), (3, 2)]
    from safetensors.torch import load_file

    optimizer = load_file(str(model / state.files["optimizer"]))
    steps = {float(v) for k, v in optimizer.items() if k.endswith(".step")}
    assert steps == {5.0}, "Adam's step count carried over"


def test_a_model_of_another_trainer_is_refused(faces, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "1", "-s", "1")) == 0
    capsys.readouterr()
    args = train_args(faces, model, "-it", "2")
    args[args.index("quick")] = "lightweight"
    assert main(args) == 5
    err = capsys.readouterr().err
    assert "holds a `quick` model" in err and "Traceback" not in err


def test_corrupt_weights_give_one_clear_line(faces, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "1", "-s", "1")) == 0
    weights = model / read_state(model).files["weights"]
    weights.write_bytes(weights.read_bytes()[:1000])
    capsys.readouterr()
    assert main(train_args(faces, model, "-it", "2")) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt" in err[0]


def test_bad_faces_folders(faces, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "-A", str(empty), "-B", str(faces["b"]), "-m", str(tmp_path / "m")]) == 3
    assert "holds no face images" in capsys.readouterr().err
    few = tmp_path / "few"
    few.mkdir()
    for png in sorted(faces["a"].glob("*.png"))[:3]:
        (few / png.name).write_bytes(png.read_bytes())
    assert main(["train", "-A", str(few), "-B", str(faces["b"]), "-m", str(tmp_path / "m"),
                 "-bs", "8"]) == 2
    assert "fewer than one batch" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    import cv2

    for i in range(8):
        cv2.imwrite(str(plain / f"face{i}.png"), np.zeros((64, 64, 3), np.uint8))
    assert main(["train", "-A", str(plain), "-B", str(faces["b"]), "-m", str(tmp_path / "m"),
                 "-bs", "4"]) == 3
    err = capsys.readouterr().err
    assert "face0.png" in err and "Traceback" not in err
    assert not (tmp_path / "m" / "state.json").exists()


def test_killed_during_saves_resumes_from_the_last_complete_save(faces, tmp_path):
    model = tmp_path / "model"
    cmd = [sys.executable, "-m", "faceforge.cli", *train_args(faces, model, "-it", "1000",
                                                              "-s", "1", "--no-identity")]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (model / "state.json").exists():
        time.sleep(0.1)
    # Saving every iteration: a kill now very likely lands inside a save.
    time.sleep(np.random.default_rng().uniform(0.5, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = read_state(model)
    assert state is not None and state.iterations >= 1
    for name in state.files.values():
        assert (model / name).exists()
    saved = state.iterations
    assert main(train_args(faces, model, "-it", str(saved + 1), "-s", "1",
                           "--no-identity")) == 0
    resumed = read_state(model)
    assert resumed.iterations == saved + 1
    assert resumed.sessions[-1].start_iteration == saved
    assert not list(model.glob("*.tmp-*")) and len(list(model.glob("weights-*"))) == 1


def _ddp_worker(rank: int, world: int, port: int, faces: dict, model: str, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from faceforge.training import TrainConfig, checkpoint, train

    writes = []
    original_save = checkpoint.save_checkpoint

    def spy(*args, **kwargs):
        writes.append(rank)
        return original_save(*args, **kwargs)

    checkpoint.save_checkpoint = spy
    config = TrainConfig(input_a=faces["a"], input_b=faces["b"], model_dir=model,
                         trainer="quick", batch_size=2, iterations=3, save_interval=3,
                         distributed=True, seed=rank + 1, no_identity=True, device="cpu")
    result = train(config)
    digest = float(sum(p.double().sum() for p in result.model.parameters()))
    Path(out, f"rank{rank}.json").write_text(json.dumps({"digest": digest, "writes": writes}))


def test_two_gloo_processes_keep_identical_weights_and_only_rank_0_writes(faces, tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = tmp_path / "model"
    mp.spawn(_ddp_worker, args=(2, port, faces, str(model), str(tmp_path)), nprocs=2,
             join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["digest"] == pytest.approx(ranks[1]["digest"], rel=1e-12, abs=1e-9)
    assert ranks[0]["writes"] == [0] and ranks[1]["writes"] == []
    assert read_state(model).iterations == 3


def test_nan_loss_stops_and_restores_the_backup(faces, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "2", "-s", "1", "--no-identity")) == 0
    good = read_state(model).iterations
    capsys.readouterr()
    # An absurd learning rate blows the weights up within a few steps.
    code = main(train_args(faces, model, "-it", "60", "-s", "1000", "--no-identity",
                           "--learning-rate", "1e12", "--precision", "fp32"))
    err = capsys.readouterr().err
    assert code == 5, err
    assert "NaN or infinite" in err and "restored" in err and "Traceback" not in err
    state = read_state(model)
    assert state.iterations <= good
    from safetensors.torch import load_file

    weights = load_file(str(model / state.files["weights"]))
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_full_disk_during_save_keeps_the_previous_save(faces, tmp_path, capsys, monkeypatch):
    import errno

    from faceforge.training import checkpoint

    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "2", "-s", "2", "--no-identity")) == 0
    before = read_state(model)
    real_save = checkpoint.save_file

    def full_disk(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    capsys.readouterr()
    assert main(train_args(faces, model, "-it", "4", "-s", "2", "--no-identity")) == 4
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "faceforge: error:" in line]
    assert len(errors) == 1 and "could not save" in errors[0] and "Traceback" not in err
    after = read_state(model)
    assert after.iterations == before.iterations == 2 and after.files == before.files
    assert sorted(p.name for p in model.glob("*.safetensors")) == sorted(before.files.values())


def test_ctrl_c_during_a_save_still_saves_the_iteration_it_reports(faces, tmp_path, capsys,
                                                                    monkeypatch):
    """Found in a 30-minute run: Ctrl-C in the middle of the save at iteration 4250 reported
    "stopped at iteration 4250; the model is saved" while state.json still said 4000."""
    from faceforge.training import checkpoint

    model = tmp_path / "model"
    real_save = checkpoint.save_checkpoint
    calls = []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the save at iteration 4, before anything is written
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_checkpoint", interrupted_once)
    assert main(train_args(faces, model, "-it", "6", "-s", "2", "--no-identity")) == 130
    err = capsys.readouterr().err
    assert "error:" not in err, "a user's stop is not an error"
    stops = [line for line in err.splitlines() if line.startswith("faceforge: ")]
    assert len(stops) == 1 and "stopped at iteration 4" in stops[0]
    state = read_state(model)
    assert state.iterations == 4
    assert sorted(p.name for p in model.glob("*.safetensors")) == sorted(state.files.values())


def test_timelapse_writes_the_same_faces_at_each_save(faces, tmp_path):
    model = tmp_path / "model"
    assert main(train_args(faces, model, "-it", "4", "-s", "2", "--no-identity", "-x",
                           str(faces["a"]), "-y", str(faces["b"]))) == 0
    frames = sorted((model / "timelapse").glob("*.png"))
    assert [p.name for p in frames] == ["000000002.png", "000000004.png"]


def test_faceswap_tutorial_train_command_line_is_accepted(faces, tmp_path):
    # train -A FACES_A -ala ALIGN_A -B FACES_B -alb ALIGN_B -m MODEL -t original -bs 16
    #   -it 1000000 -s 250 -ss 25000 -ps 100 -L INFO   (here stopped after 1 iteration)
    root = faces["a"].parent
    model = tmp_path / "model"
    assert main(["train", "-A", str(faces["a"]), "-ala", str(root / "a.db"), "-B",
                 str(faces["b"]), "-alb", str(root / "b.db"), "-m", str(model), "-t",
                 "original", "-bs", "16", "-it", "1", "-s", "250", "-ss", "25000", "-ps", "100",
                 "-L", "INFO"]) == 0
    state = read_state(model)
    assert state.trainer == "original" and state.iterations == 1
