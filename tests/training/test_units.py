"""The training package's parts on their own, with a tiny model and in-memory face sets."""

from __future__ import annotations

import json
import math

import pytest
import torch

from faceforge.errors import ModelError, OutputError
from faceforge.events import Losses, Metrics, PreviewWritten, Progress, Saved
from faceforge.formats.model_state import read_state
from faceforge.training import checkpoint
from faceforge.training.callbacks import Checkpointer, LossLog, NanGuard, ProgressEvents
from faceforge.training.loop import lr_scale
from faceforge.training.previews import Preview
from faceforge.training.sampler import Sampler
from tests.training.fakes import TinyModel, face_set, train_step, training_run


def test_sampler_gives_every_face_once_per_epoch_across_batch_boundaries():
    sampler = Sampler(5, torch.Generator().manual_seed(0))
    drawn = torch.cat([sampler.next(3) for _ in range(10)])  # 30 = 6 epochs of 5
    for epoch in drawn.split(5):
        assert sorted(epoch.tolist()) == [0, 1, 2, 3, 4]
    again = Sampler(5, torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([again.next(3) for _ in range(10)]), drawn)
    with pytest.raises(ValueError):
        Sampler(0, torch.Generator())


def test_a_step_learns_and_clears_its_gradients():
    torch.manual_seed(0)
    step = train_step()
    first = step()
    for _ in range(30):
        last = step()
    assert all(math.isfinite(v) for v in first + last)
    assert sum(last) < sum(first)
    assert all(p.grad is None for p in step.model.parameters())
    assert not step.scaler.is_enabled(), "fp32 needs no loss scaling"


def test_accumulated_batches_give_their_mean_loss():
    torch.manual_seed(0)
    one = train_step(accumulate=1, seed=3)
    torch.manual_seed(0)
    two = train_step(accumulate=2, seed=3)
    batches = [one.batch(side) for side in (0, 1, 0, 1)]
    expected = [one.forward_backward(batches[0], batches[1]),
                one.forward_backward(batches[2], batches[3])]
    mean_a = sum(float(a) for a, _ in expected) / 2
    loss_a, _ = two()
    assert loss_a == pytest.approx(mean_a, rel=1e-5)


def test_measuring_another_compute_leaves_weights_and_random_streams_alone():
    torch.manual_seed(0)
    step = train_step()
    weights = {k: v.clone() for k, v in step.model.state_dict().items()}
    generator_state = step.generator.get_state()
    sampler_orders = [s.order.clone() for s in step.samplers]
    seconds = step.measure(step.compute.__class__("bf16", False))
    assert seconds > 0
    assert all(torch.equal(v, step.model.state_dict()[k]) for k, v in weights.items())
    assert torch.equal(step.generator.get_state(), generator_state)
    assert all(torch.equal(s.order, o) for s, o in zip(step.samplers, sampler_orders,
                                                        strict=True))
    assert step.compute.precision == "fp32"
    assert all(p.grad is None for p in step.model.parameters())


def test_nan_guard_restores_the_backup_and_names_the_iteration(tmp_path):
    run, _ = training_run(tmp_path, iteration=6)
    NanGuard().on_step(run, 0.5, 0.4)  # finite: nothing happens
    with pytest.raises(ModelError, match="NaN or infinite at iteration 6") as no_backup:
        NanGuard().on_step(run, float("nan"), 0.4)
    assert "restored" not in str(no_backup.value)
    run.state.iterations = 4
    checkpoint.save_checkpoint(tmp_path / "backups", run.state, run.model.state_dict(), None, {})
    with pytest.raises(ModelError, match="restored from its backup at iteration 4"):
        NanGuard().on_step(run, 0.5, float("inf"))
    assert read_state(tmp_path).iterations == 4


def test_progress_events_carry_losses_speed_and_eta(tmp_path):
    run, events = training_run(tmp_path, iteration=0, iterations=10)
    run.iteration = 1
    ProgressEvents().on_step(run, 0.5, 0.25)
    losses, progress = events
    assert isinstance(losses, Losses) and (losses.loss_a, losses.loss_b) == (0.5, 0.25)
    assert isinstance(progress, Progress) and (progress.done, progress.total) == (1, 10)
    assert progress.unit == "iteration" and progress.to_dict()["kind"] == "progress"


def test_loss_log_writes_at_saves_and_drops_what_was_not_saved(tmp_path):
    run, _ = training_run(tmp_path)
    log = LossLog(tmp_path)
    for iteration in (1, 2):
        run.iteration = iteration
        log.on_step(run, 0.5, 0.4)
    run.metrics[2] = {"identity/a2b_to_b": 0.3}
    log.on_save(run)
    run.iteration = 3
    log.on_step(run, 0.45, 0.35)  # never saved: a resume does this iteration again
    log.on_end(run)
    lines = [json.loads(line) for line in (tmp_path / "loss_log.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [1, 2, 2]
    assert lines[-1]["identity/a2b_to_b"] == 0.3
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))


def test_checkpointer_saves_backs_up_on_improvement_and_snapshots(tmp_path):
    run, events = training_run(tmp_path, snapshot_interval=4)
    optimizer = torch.optim.Adam(run.model.parameters())
    saver = Checkpointer(optimizer, {"sampler": torch.Generator().manual_seed(5)})
    for iteration, average in ((2, 0.5), (4, 0.6), (6, 0.4)):
        run.iteration = iteration
        run.state.iterations = iteration
        run.state.loss["average"] = average
        saver.on_save(run)
    saved = [(e.iteration, e.what) for e in events if isinstance(e, Saved)]
    assert saved == [(2, "model"), (2, "backup"), (4, "model"), (4, "snapshot"),
                     (6, "model"), (6, "backup")]
    assert read_state(tmp_path).iterations == 6 and run.saved_iteration == 6
    assert read_state(tmp_path / "backups").iterations == 6
    assert read_state(tmp_path / "snapshots" / "000000004").iterations == 4
    assert len(list(tmp_path.glob("weights-*.safetensors"))) == 1


def test_checkpoint_round_trip_restores_weights_optimizer_and_random_state(tmp_path):
    run, _ = training_run(tmp_path, iteration=3)
    model = run.model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 16, 16), "a").sum().backward()
    optimizer.step()
    generator = torch.Generator().manual_seed(9)
    checkpoint.save_checkpoint(tmp_path, run.state, model.state_dict(), optimizer,
                               {"sampler": generator.get_state()})
    state = read_state(tmp_path)
    restored = TinyModel()
    restored.load_state_dict(checkpoint.load_weights(tmp_path, state))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 restored.state_dict().values(), strict=True))
    fresh = torch.optim.Adam(restored.parameters(), lr=1e-3)
    rng = checkpoint.load_optimizer(tmp_path, state, fresh)
    assert torch.equal(rng["sampler"], generator.get_state())
    assert fresh.state_dict()["state"][0]["step"] == 1


def test_a_failed_save_keeps_the_previous_one_and_leaves_no_files(tmp_path, monkeypatch):
    run, _ = training_run(tmp_path, iteration=2)
    checkpoint.save_checkpoint(tmp_path, run.state, run.model.state_dict(), None, {})
    before = sorted(p.name for p in tmp_path.iterdir())

    def disk_full(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device", filename)

    monkeypatch.setattr(checkpoint, "save_file", disk_full)
    run.state.iterations = 4
    with pytest.raises(OutputError, match="could not save the model"):
        checkpoint.save_checkpoint(tmp_path, run.state, run.model.state_dict(), None, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert read_state(tmp_path).iterations == 2


def test_preview_is_written_atomically_and_announced(tmp_path):
    run, events = training_run(tmp_path, iteration=2)
    faces = face_set("a").images[:2]
    Preview(tmp_path / "preview.png", faces, faces, 100, 32).on_save(run)
    assert (tmp_path / "preview.png").stat().st_size > 100
    assert [type(e) for e in events] == [PreviewWritten]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_identity_match_scores_swaps_with_any_describer(tmp_path):
    from faceforge.training.identity_match import IdentityMatch

    class Describer:  # faces of A describe as 0, B as 1: the "swaps" (A's faces) are A
        def describe(self, image, landmarks):
            value = 1.0 if image.mean() > 127 else 0.0
            return torch.full((1, 128), value).numpy()

    bright = torch.full((4, 3, 16, 16), 255, dtype=torch.uint8)
    dark = torch.zeros((4, 3, 16, 16), dtype=torch.uint8)
    landmarks = torch.zeros(4, 68, 2)
    run, events = training_run(tmp_path, iteration=5)
    IdentityMatch(dark, landmarks, bright, landmarks, describer=Describer()).on_save(run)
    values = run.metrics[5]
    assert values["identity/a2b_nearer_b"] == 0.0 and values["identity/a2b_to_a"] == 0.0
    assert run.state.loss["identity"] == values
    assert isinstance(events[-1], Metrics)


def test_swap_quality_follows_the_swaps_expression_and_sharpness(tmp_path):
    import numpy as np

    from faceforge.core import geometry
    from faceforge.training.swap_quality import SwapQuality

    class Landmarker:  # the brighter the face, the wider its mouth opens
        def landmarks(self, image, detections):
            points = np.zeros((68, 2))
            points[17:] = geometry.mean_face() * 150 + 50
            points[[65, 66, 67]] += [0, 40 * image.mean() / 255]
            return [points]

    faces = face_set("a", count=8)
    faces.images[:, :, ::2, ::2] //= 2  # some fine detail for the sharpness to lose
    swap_quality = SwapQuality(faces.images, faces.landmarks, landmarker=Landmarker())
    run, events = training_run(tmp_path, iteration=5)
    swap_quality.on_save(run)  # the fake swapper gives the A faces back: all is kept
    values = run.metrics[5]
    assert values["quality/a2b_mouth_correlation"] == pytest.approx(1.0)
    assert values["quality/a2b_sharpness_ratio"] == pytest.approx(1.0)
    assert values["quality/a2b_eye_correlation"] == 0.0  # the eyes never move: no correlation
    assert isinstance(events[-1], Metrics) and run.state.loss["quality"] == values

    def blurring(faces_uint8, side):
        smooth = torch.nn.functional.avg_pool2d(faces_uint8.float() / 255, 3, 1, 1)
        return smooth.flip(0)  # and every face gets another face's expression
    run.swapper, run.iteration = blurring, 6
    swap_quality.on_save(run)
    assert run.metrics[6]["quality/a2b_sharpness_ratio"] < 0.5
    assert run.metrics[6]["quality/a2b_mouth_correlation"] < 0.5


def test_the_learning_rate_ramps_up_then_eases_to_zero_over_the_last_share():
    flat = [lr_scale(i, 1000, 0, 0.0) for i in range(1, 1001)]
    assert flat == [1.0] * 1000
    ramp = [lr_scale(i, 1000, 100, 0.0) for i in (1, 50, 100, 101, 1000)]
    assert ramp == [0.01, 0.5, 1.0, 1.0, 1.0]
    decay = [lr_scale(i, 1000, 0, 30.0) for i in range(1, 1001)]
    assert decay[:700] == [1.0] * 700  # full rate until the last 30%
    assert decay[849] == pytest.approx(0.5)  # half way down at iteration 850
    assert decay[-1] == 0.0
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    # a resumed run with a later end follows the new end; past it the rate stays at zero
    assert lr_scale(800, 2000, 0, 30.0) == 1.0
    assert lr_scale(1200, 1000, 0, 30.0) == 0.0
