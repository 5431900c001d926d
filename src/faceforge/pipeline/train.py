"""`train`: teach a shared encoder and two decoders to redraw A's and B's faces.

Read `train()` top to bottom: set up (resume or create), load both face sets into memory, then
one short loop of augment → forward → loss → step, with saving, previews and logs as callbacks.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from faceforge import __version__
from faceforge.errors import Interrupted, ModelError, UsageError
from faceforge.formats.model_state import ModelState, Session, read_state
from faceforge.io.files import ensure_writable_dir
from faceforge.nn.losses import LossConfig, face_loss, learned_mask_loss
from faceforge.pipeline import checkpoint
from faceforge.pipeline.allocator import reuse_freed_memory
from faceforge.pipeline.face_sets import FaceSet, check_alignments, load_face_set
from faceforge.pipeline.train_callbacks import (
    Callback,
    IdentityMatch,
    LossLog,
    Preview,
    Swapper,
    Timelapse,
)
from faceforge.plugins.model import FaceSwapModel, ModelOutput, build_model
from faceforge.training.augment import AugmentConfig, AugmentedBatch, augment_batch

log = logging.getLogger(__name__)

PREVIEW_FACES = 4
TIMELAPSE_FACES = 14


@dataclass
class TrainConfig:
    """Everything one training run needs. Field names match the CLI options' `dest`."""

    input_a: Path
    input_b: Path
    model_dir: Path
    alignments_a: Path | None = None
    alignments_b: Path | None = None
    trainer: str = "original"
    batch_size: int = 16
    iterations: int = 1_000_000
    save_interval: int = 250
    snapshot_interval: int = 25_000
    write_image: bool = False
    preview_scale: int = 100
    timelapse_input_a: Path | None = None
    timelapse_input_b: Path | None = None
    timelapse_output: Path | None = None
    warp_to_landmarks: bool = False
    no_flip: bool = False
    no_augment_color: bool = False
    no_warp: bool = False
    warmup: int = 0
    learning_rate: float | None = None
    optimizer: str = "adam"
    epsilon: float = 1e-7
    clip_grad: float = 0.0
    accumulate: int = 1
    loss: list[str] = field(default_factory=lambda: ["ssim", "mse"])
    no_mask_loss: bool = False
    eye_multiplier: float = 3.0
    mouth_multiplier: float = 2.0
    precision: str = "auto"
    centering: str = "face"
    coverage: float = 87.5
    distributed: bool = False
    seed: int = 0
    no_identity: bool = False
    device: str | None = None  # None: cuda if available, else cpu

    def __post_init__(self) -> None:
        for name in ("input_a", "input_b", "model_dir", "alignments_a", "alignments_b",
                     "timelapse_input_a", "timelapse_input_b", "timelapse_output"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.batch_size < 1:
            raise UsageError("--batch-size must be 1 or more")
        if self.save_interval < 1:
            raise UsageError("--save-interval must be 1 or more")
        if self.accumulate < 1:
            raise UsageError("--accumulate must be 1 or more")
        if not 10.0 <= self.coverage <= 200.0:
            raise UsageError(f"--coverage {self.coverage} is out of range", "use 50 to 100")

    def augment_config(self) -> AugmentConfig:
        return AugmentConfig(color=not self.no_augment_color,
                             flip_chance=0.0 if self.no_flip else 0.5,
                             warp=not self.no_warp and not self.warp_to_landmarks,
                             warp_to_landmarks=self.warp_to_landmarks and not self.no_warp)

    def loss_config(self) -> LossConfig:
        names = list(dict.fromkeys(self.loss))
        return LossConfig(names=names, weights=[1.0] * len(names),
                          mask_penalty=not self.no_mask_loss,
                          eye_multiplier=self.eye_multiplier,
                          mouth_multiplier=self.mouth_multiplier)

    def saved(self) -> dict:
        """The options that define the training, saved in the state file."""
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        for key in ("model_dir", "iterations", "device", "distributed"):
            data.pop(key, None)
        return data


@dataclass
class TrainProgress:
    iteration: int
    iterations_total: int
    loss_a: float
    loss_b: float
    egs_per_s: float


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


# --------------------------------------------------------------------------------------
# Precision and devices


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_autocast(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype to train with, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise UsageError("--precision fp16 needs a CUDA GPU", "use bf16 or fp32 on a CPU")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


class PairModel(nn.Module):
    """Both sides in one forward call, so DistributedDataParallel sees every parameter used."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, faces_a: torch.Tensor,
                faces_b: torch.Tensor) -> tuple[ModelOutput, ModelOutput]:
        return self.model.forward_pair(faces_a, faces_b)


# --------------------------------------------------------------------------------------
# Setting up: new model or resumed one


def _build_or_resume(config: TrainConfig,
                     device: torch.device) -> tuple[FaceSwapModel, ModelState]:
    state = read_state(config.model_dir)
    if state is None:
        overrides = {}
        model = build_model(config.trainer)
        if config.learning_rate is not None:
            overrides["learning_rate"] = config.learning_rate
        if overrides:
            model = build_model(config.trainer, {**model.config.to_dict(), **overrides})
        state = ModelState(trainer=config.trainer, model_config=model.config.to_dict(),
                           train_config=config.saved(), tool_version=__version__)
        return model.to(device), state
    if state.trainer != config.trainer:
        raise ModelError(
            f"model folder {config.model_dir} holds a `{state.trainer}` model, not "
            f"`{config.trainer}`", f"pass -t {state.trainer} to resume it, or a new -m folder")
    saved_lr = state.model_config.get("learning_rate")
    if config.learning_rate is not None and config.learning_rate != saved_lr:
        log.info("learning rate changed from %s to %s", saved_lr, config.learning_rate)
        state.model_config["learning_rate"] = config.learning_rate
    model = checkpoint.build_saved_model(config.model_dir, state)
    log.info("resuming %s at iteration %d", state.trainer, state.iterations)
    return model.to(device), state


def _make_optimizer(config: TrainConfig, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused kernels update all parameters in one pass: noticeably faster on CPUs too.
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, eps=config.epsilon, fused=True)
    return torch.optim.Adam(params, lr=lr, eps=config.epsilon, fused=True)


class _Sampler:
    """Shuffled passes over a face set, like Faceswap's: every face once per epoch."""

    def __init__(self, count: int, generator: torch.Generator) -> None:
        self.count, self.generator = count, generator
        self.order = torch.empty(0, dtype=torch.long)
        self.position = 0

    def next(self, batch_size: int) -> torch.Tensor:
        picks = []
        while batch_size > 0:
            if self.position >= len(self.order):
                self.order = torch.randperm(self.count, generator=self.generator)
                self.position = 0
            take = min(batch_size, len(self.order) - self.position)
            picks.append(self.order[self.position:self.position + take])
            self.position += take
            batch_size -= take
        return torch.cat(picks)


# --------------------------------------------------------------------------------------
# The loop


def train(
    config: TrainConfig,
    progress: Callable[[TrainProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train (or resume) the model in config.model_dir up to config.iterations."""
    rank, world, device = _setup_distributed(config)
    is_main = rank == 0
    reuse_freed_memory()
    if is_main:
        ensure_writable_dir(config.model_dir)
    model, state = _build_or_resume(config, device)
    autocast_dtype = choose_autocast(config.precision, device)
    if device.type == "cuda" or autocast_dtype is not None:
        model = model.to(memory_format=torch.channels_last)
    load_size = max(model.input_size, model.output_size)
    set_a = load_face_set(config.input_a, "a", load_size, config.centering,
                          config.coverage / 100, min_faces=config.batch_size)
    set_b = load_face_set(config.input_b, "b", load_size, config.centering,
                          config.coverage / 100, min_faces=config.batch_size)

    for face_set, alignments in ((set_a, config.alignments_a), (set_b, config.alignments_b)):
        if alignments is not None:
            check_alignments(face_set, alignments)

    lr = float(state.model_config.get("learning_rate", 5e-5))
    optimizer = _make_optimizer(config, model, lr)
    seed = config.seed or int(time.time())
    generator = torch.Generator(device=device).manual_seed(seed + rank)
    sample_gen = torch.Generator().manual_seed(seed + 1000 + rank)
    if state.iterations:
        rng = checkpoint.load_optimizer(config.model_dir, state, optimizer)
        if "augment" in rng and device.type == "cpu" and world == 1:
            generator.set_state(rng["augment"])
        if "sampler" in rng and world == 1:
            sample_gen.set_state(rng["sampler"])
        for group in optimizer.param_groups:
            group["lr"] = lr

    pair = PairModel(model)
    if world > 1:
        pair = nn.parallel.DistributedDataParallel(
            pair, device_ids=[device.index] if device.type == "cuda" else None)
    swapper = Swapper(model, device, model.input_size, autocast_dtype)
    callbacks, loss_log = _callbacks(config, set_a, set_b, is_main)
    step = TrainStep(model, pair, optimizer, set_a, set_b, config, device, autocast_dtype,
                     generator, sample_gen)

    start_iteration = state.iterations
    session = Session(start=time.time(), start_iteration=start_iteration,
                      batch_size=config.batch_size)
    state.sessions.append(session)
    state.train_config = config.saved()
    first_loss = last_loss = None
    best = state.loss.get("best_average", math.inf)
    window: list[tuple[float, float]] = []
    started = time.perf_counter()
    last_saved_identity: dict[str, float] = {}
    saved_iteration = state.iterations  # what is on disk; state.iterations leads it mid-save

    def save(iteration: int) -> None:
        nonlocal best, last_saved_identity, saved_iteration
        session.end = time.time()
        session.iterations = iteration - start_iteration
        elapsed = time.perf_counter() - started
        session.egs_per_s = (session.iterations * config.batch_size * 2 * world / elapsed
                             if elapsed > 0 else None)
        state.iterations = iteration
        values: dict[str, float] = {}
        if window:
            avg_a = sum(a for a, _ in window) / len(window)
            avg_b = sum(b for _, b in window) / len(window)
            state.loss.update({"average_a": avg_a, "average_b": avg_b,
                               "average": (avg_a + avg_b) / 2})
        if not is_main:
            saved_iteration = iteration
            return
        for callback in callbacks:
            values.update(callback.on_save(iteration, swapper))
        if values:
            last_saved_identity = values
            state.loss["identity"] = values
            loss_log.record(iteration, values)
        loss_log.flush()
        rng = {"sampler": sample_gen.get_state()}
        if device.type == "cpu":
            rng["augment"] = generator.get_state()
        checkpoint.save_checkpoint(config.model_dir, state, model.contiguous_state_dict(),
                                   optimizer, rng)
        saved_iteration = iteration
        average = state.loss.get("average", math.inf)
        if average < best:
            best = average
            state.loss["best_average"] = best
            checkpoint.copy_checkpoint(config.model_dir, config.model_dir / "backups")
        if config.snapshot_interval and iteration % config.snapshot_interval == 0:
            checkpoint.copy_checkpoint(config.model_dir,
                                       config.model_dir / "snapshots" / f"{iteration:09d}")
        window.clear()

    iteration = start_iteration
    try:
        for iteration in range(start_iteration + 1, config.iterations + 1):
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            if config.warmup and iteration <= config.warmup:
                for group in optimizer.param_groups:
                    group["lr"] = lr * iteration / config.warmup
            loss_a, loss_b = step()
            if not (math.isfinite(loss_a) and math.isfinite(loss_b)):
                _restore_after_nan(config, iteration)
            first_loss = first_loss or (loss_a, loss_b)
            last_loss = (loss_a, loss_b)
            window.append(last_loss)
            if is_main:
                loss_log.on_step(iteration, loss_a, loss_b)
            if progress is not None and is_main:
                elapsed = time.perf_counter() - started
                done = iteration - start_iteration
                progress(TrainProgress(iteration, config.iterations, loss_a, loss_b,
                                       done * config.batch_size * 2 * world / elapsed))
            if iteration % config.save_interval == 0:
                save(iteration)
    except KeyboardInterrupt:
        # Ctrl-C may land in the middle of a save: save again unless this iteration is on disk.
        if iteration > saved_iteration:
            save(iteration)
        _finish(callbacks, world)
        raise Interrupted(f"training stopped at iteration {iteration}; the model is saved in "
                          f"{config.model_dir}", "run the same command again to continue") from None
    if iteration > saved_iteration:
        save(iteration)
    _finish(callbacks, world)
    elapsed = time.perf_counter() - started
    done = iteration - start_iteration
    return TrainResult(config.model_dir, start_iteration, iteration, first_loss, last_loss,
                       done * config.batch_size * 2 * world / elapsed if elapsed else 0.0,
                       elapsed, last_saved_identity, model)


class TrainStep:
    """One iteration: sample both sides, augment on the device, forward, loss, optimizer step.

    Holds everything the step needs, so the loop (and the speed benchmark) just call it.
    """

    def __init__(self, model: nn.Module, pair: nn.Module, optimizer: torch.optim.Optimizer,
                 set_a: FaceSet, set_b: FaceSet, config: TrainConfig, device: torch.device,
                 autocast_dtype: torch.dtype | None, generator: torch.Generator,
                 sample_generator: torch.Generator) -> None:
        self.model, self.pair, self.optimizer = model, pair, optimizer
        self.sets = (set_a, set_b)
        self.samplers = (_Sampler(len(set_a), sample_generator),
                         _Sampler(len(set_b), sample_generator))
        self.config, self.device, self.autocast_dtype = config, device, autocast_dtype
        self.generator = generator
        self.augment = config.augment_config()
        self.losses = config.loss_config()
        self.channels_last = autocast_dtype is not None or device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None

    def _batch(self, side: int) -> AugmentedBatch:
        face_set, sampler = self.sets[side], self.samplers[side]
        picks = sampler.next(self.config.batch_size)
        images = face_set.images[picks].to(self.device, non_blocking=True)
        masks = face_set.masks[picks].to(self.device, non_blocking=True)
        landmarks = (face_set.landmarks[picks].to(self.device)
                     if self.augment.warp_to_landmarks else None)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return augment_batch(images, self.augment, self.generator,
                             out_size_input=self.model.input_size,
                             out_size_target=self.model.output_size, masks=masks,
                             landmarks=landmarks)

    def __call__(self) -> tuple[float, float]:
        config, scaler, optimizer = self.config, self.scaler, self.optimizer
        total_a = total_b = 0.0
        for _ in range(config.accumulate):
            batch_a, batch_b = self._batch(0), self._batch(1)
            with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                                enabled=self.autocast_dtype is not None):
                out_a, out_b = self.pair(batch_a.inputs, batch_b.inputs)
            loss_a = _side_loss(out_a, batch_a, self.losses)
            loss_b = _side_loss(out_b, batch_b, self.losses)
            loss = (loss_a + loss_b) / config.accumulate
            if scaler is not None:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            total_a += float(loss_a.detach())
            total_b += float(loss_b.detach())
        if config.clip_grad:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return total_a / config.accumulate, total_b / config.accumulate


def _side_loss(output: ModelOutput, batch: AugmentedBatch, losses: LossConfig) -> torch.Tensor:
    masks = batch.masks
    face_mask, eye_mask, mouth_mask = masks[:, 0:1], masks[:, 1:2], masks[:, 2:3]
    predicted_mask = None
    if isinstance(output, tuple):
        output, predicted_mask = output
    loss = face_loss(output, batch.targets, losses, face_mask=face_mask, eye_mask=eye_mask,
                     mouth_mask=mouth_mask)
    if predicted_mask is not None:
        loss = loss + learned_mask_loss(predicted_mask, face_mask)
    return loss


def _restore_after_nan(config: TrainConfig, iteration: int) -> None:
    backups = config.model_dir / "backups"
    backup = read_state(backups) if (backups / "state.json").exists() else None
    if backup is not None:
        checkpoint.copy_checkpoint(backups, config.model_dir)
        raise ModelError(
            f"the loss became NaN or infinite at iteration {iteration}; the model was restored "
            f"from its backup at iteration {backup.iterations}",
            "lower the learning rate (--learning-rate) or enable --clip-grad, then resume")
    raise ModelError(f"the loss became NaN or infinite at iteration {iteration}",
                     "lower the learning rate (--learning-rate) or enable --clip-grad")


def _callbacks(config: TrainConfig, set_a: FaceSet, set_b: FaceSet,
               is_main: bool) -> tuple[list[Callback], LossLog | None]:
    if not is_main:
        return [], None
    loss_log = LossLog(config.model_dir)
    callbacks: list[Callback] = [loss_log]
    tile = set_a.images.shape[-1]
    if config.write_image:
        callbacks.append(Preview(config.model_dir / "preview.png",
                                 set_a.images[:PREVIEW_FACES], set_b.images[:PREVIEW_FACES],
                                 config.preview_scale, max(tile, 128)))
    if config.timelapse_input_a or config.timelapse_input_b:
        if not (config.timelapse_input_a and config.timelapse_input_b):
            raise UsageError("a time-lapse needs both -x and -y faces folders")
        lapse_a = load_face_set(config.timelapse_input_a, "a", tile, config.centering,
                                config.coverage / 100)
        lapse_b = load_face_set(config.timelapse_input_b, "b", tile, config.centering,
                                config.coverage / 100)
        folder = config.timelapse_output or config.model_dir / "timelapse"
        callbacks.append(Timelapse(folder, lapse_a.images[:TIMELAPSE_FACES],
                                   lapse_b.images[:TIMELAPSE_FACES], max(tile, 64)))
    if not config.no_identity:
        callbacks.append(IdentityMatch(set_a.images, set_a.landmarks, set_b.images,
                                       set_b.landmarks))
    return callbacks, loss_log


def _finish(callbacks: list[Callback], world: int) -> None:
    for callback in callbacks:
        callback.close()
    if world > 1:
        torch.distributed.destroy_process_group()


def _setup_distributed(config: TrainConfig) -> tuple[int, int, torch.device]:
    requested = config.device
    if not config.distributed:
        device = torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))
        return 0, 1, device
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise UsageError("--distributed must be launched with torchrun",
                         "e.g. torchrun --nproc-per-node 2 -m faceforge.cli train ...")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() and requested != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return rank, world, device
