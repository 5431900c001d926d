"""`train`: teach a shared encoder and two decoders to redraw A's and B's faces.

Read `train()` top to bottom: place the run, build or resume the model (once), load both face
sets into memory, choose how the maths runs, then one short loop of step → callbacks, saving
every `save_interval` iterations. Saving, backups, snapshots, previews, logs, the identity
match, the swap quality (expression, sharpness) and the NaN guard are callbacks
(callbacks.py); what they share is the `TrainingRun`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from faceforge.errors import Interrupted
from faceforge.events import EventSink, Note, ignore
from faceforge.formats.model_state import ModelState, Session
from faceforge.io.files import ensure_writable_dir, remove_stale_temporaries
from faceforge.plugins.model import FaceSwapModel
from faceforge.training import checkpoint, distributed
from faceforge.training.callbacks import (
    Callback,
    Checkpointer,
    LossLog,
    NanGuard,
    ProgressEvents,
)
from faceforge.training.config import TrainConfig
from faceforge.training.face_sets import FaceSet, check_alignments, load_face_set
from faceforge.training.precision import Compute, apply_compute, choose_compute
from faceforge.training.previews import Preview, Swapper, Timelapse
from faceforge.training.sampler import Sampler
from faceforge.training.step import PairModel, TrainStep

log = logging.getLogger(__name__)

PREVIEW_FACES = 4
TIMELAPSE_FACES = 14


@dataclass
class TrainResult:
    model_dir: Path
    start_iteration: int
    end_iteration: int
    first_loss: tuple[float, float] | None
    last_loss: tuple[float, float] | None
    egs_per_s: float
    elapsed_s: float
    identity: dict[str, float] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)  # the trained model, in memory


@dataclass
class TrainingRun:
    """What the loop and its callbacks share while a run goes on."""

    config: TrainConfig
    model: FaceSwapModel
    state: ModelState  # what the next save writes
    session: Session
    swapper: Swapper
    emit: EventSink
    world: int = 1
    iteration: int = 0  # the last finished iteration
    start_iteration: int = 0
    saved_iteration: int = 0  # the iteration on disk; `iteration` leads it between saves
    first_loss: tuple[float, float] | None = None
    last_loss: tuple[float, float] | None = None
    window: list[tuple[float, float]] = field(default_factory=list)  # losses since last save
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)  # scores per save
    started: float = field(default_factory=time.perf_counter)

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def egs_per_s(self) -> float:
        """Faceswap's speed: faces of both sides (all processes) per second, this session."""
        elapsed = self.elapsed_s()
        done = self.iteration - self.start_iteration
        return done * self.config.batch_size * 2 * self.world / elapsed if elapsed > 0 else 0.0

    def record(self, loss_a: float, loss_b: float) -> None:
        self.first_loss = self.first_loss or (loss_a, loss_b)
        self.last_loss = (loss_a, loss_b)
        self.window.append(self.last_loss)

    def bring_state_up_to_date(self) -> None:
        """The session's numbers and the average losses since the last save, for saving."""
        self.session.end = time.time()
        self.session.iterations = self.iteration - self.start_iteration
        self.session.egs_per_s = self.egs_per_s() if self.elapsed_s() > 0 else None
        self.state.iterations = self.iteration
        if self.window:
            avg_a = sum(a for a, _ in self.window) / len(self.window)
            avg_b = sum(b for _, b in self.window) / len(self.window)
            self.state.loss.update({"average_a": avg_a, "average_b": avg_b,
                                    "average": (avg_a + avg_b) / 2})


def train(config: TrainConfig, on_event: EventSink | None = None,
          stop: threading.Event | None = None,
          save_now: threading.Event | None = None) -> TrainResult:
    """Train (or resume) the model in config.model_dir up to config.iterations.

    Progress arrives as events (faceforge.events); setting `stop` ends the run like Ctrl-C:
    the iteration reached is saved and `Interrupted` is raised. Setting `save_now` saves after
    the iteration under way (and clears it).
    """
    emit = on_event or ignore
    place = distributed.setup(config.distributed, config.device)
    if place.is_main:
        ensure_writable_dir(config.model_dir)
        snapshots = config.model_dir / "snapshots"
        for folder in (config.model_dir, config.model_dir / "backups",
                       *(sorted(snapshots.iterdir()) if snapshots.is_dir() else [])):
            remove_stale_temporaries(folder)
    seed = config.seed or int(time.time())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # a new model's first weights follow --seed too
        model, state = checkpoint.build_or_resume(config.model_dir, config.trainer,
                                                  config.learning_rate, config.saved())
    model.to(place.device)
    set_a, set_b = _load_face_sets(config, model)

    lr = float(state.model_config.get("learning_rate", 5e-5))
    optimizer = _make_optimizer(config, model, lr)
    generator = torch.Generator(device=place.device).manual_seed(seed + place.rank)
    sample_generator = torch.Generator().manual_seed(seed + 1000 + place.rank)
    pair: nn.Module = PairModel(model)
    if place.world > 1:
        pair = nn.parallel.DistributedDataParallel(
            pair, device_ids=[place.device.index] if place.device.type == "cuda" else None)
    step = TrainStep(model, pair, optimizer, (set_a, set_b),
                     (Sampler(len(set_a), sample_generator), Sampler(len(set_b), sample_generator)),
                     config.augment_config(), config.loss_config(), batch_size=config.batch_size,
                     accumulate=config.accumulate, clip_grad=config.clip_grad,
                     device=place.device, compute=Compute("fp32", True), generator=generator)
    step.compute = _choose_compute(config, step, place, emit)
    apply_compute(model, step.compute, place.device)
    step.scaler = torch.amp.GradScaler(place.device.type,
                                       enabled=step.compute.autocast == torch.float16)

    if state.iterations:
        saved_rng = checkpoint.load_optimizer(config.model_dir, state, optimizer)
        if "augment" in saved_rng and place.device.type == "cpu" and place.world == 1:
            generator.set_state(saved_rng["augment"])
        if "sampler" in saved_rng and place.world == 1:
            sample_generator.set_state(saved_rng["sampler"])
        for group in optimizer.param_groups:
            group["lr"] = lr

    session = Session(start=time.time(), start_iteration=state.iterations,
                      batch_size=config.batch_size)
    state.sessions.append(session)
    state.train_config = config.saved()
    run = TrainingRun(config, model, state, session,
                      Swapper(model, place.device, model.input_size, step.compute.autocast),
                      emit if place.is_main else ignore, world=place.world,
                      iteration=state.iterations, start_iteration=state.iterations,
                      saved_iteration=state.iterations)
    rng = {"sampler": sample_generator}
    if place.device.type == "cpu":  # CUDA generators' states are not portable between runs
        rng["augment"] = generator
    callbacks = _callbacks(config, set_a, set_b, place.is_main, optimizer, rng,
                           state.iterations)

    try:
        while run.iteration < config.iterations:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            run.iteration += 1
            if config.warmup or config.lr_decay:
                scale = lr_scale(run.iteration, config.iterations, config.warmup, config.lr_decay)
                for group in optimizer.param_groups:
                    group["lr"] = lr * scale
            loss_a, loss_b = step()
            for callback in callbacks:
                callback.on_step(run, loss_a, loss_b)
            run.record(loss_a, loss_b)
            if run.iteration % config.save_interval == 0 or (save_now and save_now.is_set()):
                if save_now is not None:
                    save_now.clear()
                _save(run, callbacks)
        if run.iteration > run.saved_iteration:
            _save(run, callbacks)
    except KeyboardInterrupt:
        # Ctrl-C may land in the middle of a save: save again unless this iteration is on disk.
        if run.iteration > run.saved_iteration:
            _save(run, callbacks)
        raise Interrupted(f"training stopped at iteration {run.iteration}; the model is saved "
                          f"in {config.model_dir}", "run the same command again to continue"
                          ) from None
    finally:
        for callback in callbacks:
            callback.on_end(run)
        distributed.teardown(place)
    return TrainResult(config.model_dir, run.start_iteration, run.iteration, run.first_loss,
                       run.last_loss, run.egs_per_s(), run.elapsed_s(),
                       run.metrics[max(run.metrics)] if run.metrics else {}, model)


def lr_scale(iteration: int, iterations: int, warmup: int, decay: float) -> float:
    """The share of the learning rate for this iteration (1-based).

    A linear ramp over the first `warmup` iterations, then the full rate, then (with `decay` >
    0) a half cosine from 1 to 0 over the last `decay` percent of `iterations`.
    """
    scale = min(1.0, iteration / warmup) if warmup else 1.0
    decay_from = iterations * (1.0 - decay / 100.0)
    if decay and iteration > decay_from:
        done = min(1.0, (iteration - decay_from) / (iterations - decay_from))
        scale *= 0.5 * (1.0 + math.cos(math.pi * done))
    return scale


def _save(run: TrainingRun, callbacks: list[Callback]) -> None:
    run.bring_state_up_to_date()
    for callback in callbacks:
        callback.on_save(run)
    run.saved_iteration = run.iteration
    run.window.clear()


def _load_face_sets(config: TrainConfig, model: FaceSwapModel) -> tuple[FaceSet, FaceSet]:
    load_size = max(model.input_size, model.output_size)
    sets = []
    for side, folder, alignments in (("a", config.input_a, config.alignments_a),
                                     ("b", config.input_b, config.alignments_b)):
        face_set = load_face_set(folder, side, load_size, config.centering,
                                 config.coverage / 100, min_faces=config.batch_size)
        if alignments is not None:
            check_alignments(face_set, alignments)
        sets.append(face_set)
    return sets[0], sets[1]


def _make_optimizer(config: TrainConfig, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused kernels update all parameters in one pass: noticeably faster on CPUs too.
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(params, lr=lr, eps=config.epsilon, fused=True)


def _choose_compute(config: TrainConfig, step: TrainStep, place: distributed.Placement,
                    emit: EventSink) -> Compute:
    """bf16 or fp32, faceforge's or torch's kernels: measured once per machine and model."""
    if place.is_main:
        model = step.model
        workload = {"job": "train", "trainer": model.name, "model": model.config.to_dict(),
                    "batch": config.batch_size, "device": str(place.device)}
        compute, why = choose_compute(config.precision, config.cpu_kernels, place.device,
                                      workload, step.measure)
        emit(Note(why))
    else:
        compute = None
    return distributed.same_on_every_rank(compute, place)


def _callbacks(config: TrainConfig, set_a: FaceSet, set_b: FaceSet, is_main: bool,
               optimizer: torch.optim.Optimizer,
               rng: dict[str, torch.Generator], saved_iteration: int) -> list[Callback]:
    """In the order they run: the NaN guard first, the checkpoint last."""
    callbacks: list[Callback] = [NanGuard()]
    if not is_main:
        return callbacks
    callbacks.append(ProgressEvents())
    tile = set_a.images.shape[-1]
    if config.write_image:
        callbacks.append(Preview(config.model_dir / "preview.png",
                                 set_a.images[:PREVIEW_FACES], set_b.images[:PREVIEW_FACES],
                                 config.preview_scale, max(tile, 128),
                                 set_a.masks[:PREVIEW_FACES, 0], set_b.masks[:PREVIEW_FACES, 0]))
    if config.timelapse_input_a:
        lapse_a = load_face_set(config.timelapse_input_a, "a", tile, config.centering,
                                config.coverage / 100)
        lapse_b = load_face_set(config.timelapse_input_b, "b", tile, config.centering,
                                config.coverage / 100)
        folder = config.timelapse_output or config.model_dir / "timelapse"
        callbacks.append(Timelapse(folder, lapse_a.images[:TIMELAPSE_FACES],
                                   lapse_b.images[:TIMELAPSE_FACES], max(tile, 64)))
    if not config.no_identity:
        from faceforge.training.identity_match import IdentityMatch

        callbacks.append(IdentityMatch(set_a.images, set_a.landmarks, set_b.images,
                                       set_b.landmarks))
    if not config.no_quality:
        from faceforge.training.swap_quality import SwapQuality

        callbacks.append(SwapQuality(set_a.images, set_a.landmarks))
    callbacks += [LossLog(config.model_dir, saved_iteration), Checkpointer(optimizer, rng)]
    return callbacks
