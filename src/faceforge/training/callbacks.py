"""What happens around the training loop: each is a small callback with hooks the loop calls.

`on_step` runs after every iteration, `on_save` at every save (in list order: previews and
scores first, then the loss log, then the checkpoint), `on_end` once when the run stops for
any reason. State they share lives on the `TrainingRun`, not in closures.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from faceforge.errors import ModelError
from faceforge.events import Losses, Progress, Saved
from faceforge.formats.model_state import read_state
from faceforge.io.files import append_text, atomic_write, read_bytes
from faceforge.io.tensorboard import ScalarWriter
from faceforge.training import checkpoint

if TYPE_CHECKING:
    from faceforge.training.loop import TrainingRun

log = logging.getLogger(__name__)


class Callback:
    def on_step(self, run: TrainingRun, loss_a: float, loss_b: float) -> None:
        """After every iteration."""

    def on_save(self, run: TrainingRun) -> None:
        """At every save, on the main process only."""

    def on_end(self, run: TrainingRun) -> None:
        """When the run stops, whether it finished, was stopped or failed."""


class NanGuard(Callback):
    """A NaN or infinite loss stops training; the model goes back to its last backup."""

    def on_step(self, run: TrainingRun, loss_a: float, loss_b: float) -> None:
        if math.isfinite(loss_a) and math.isfinite(loss_b):
            return
        model_dir = run.config.model_dir
        hint = "lower the learning rate (--learning-rate) or enable --clip-grad"
        backups = model_dir / "backups"
        backup = read_state(backups) if (backups / "state.json").exists() else None
        if backup is None:
            raise ModelError(f"the loss became NaN or infinite at iteration {run.iteration}",
                             hint)
        checkpoint.copy_checkpoint(backups, model_dir)
        raise ModelError(
            f"the loss became NaN or infinite at iteration {run.iteration}; the model was "
            f"restored from its backup at iteration {backup.iterations}", f"{hint}, then resume")


class ProgressEvents(Callback):
    """Per iteration: the losses and speed (`Losses`) and how far the run is (`Progress`)."""

    def on_step(self, run: TrainingRun, loss_a: float, loss_b: float) -> None:
        rate = run.egs_per_s()
        run.emit(Losses(run.iteration, loss_a, loss_b, rate))
        iterations_per_s = rate / (2 * run.config.batch_size * run.world) if rate else 0.0
        left = run.config.iterations - run.iteration
        run.emit(Progress(run.iteration, run.config.iterations, "iteration", iterations_per_s,
                          left / iterations_per_s if iterations_per_s else None))


class LossLog(Callback):
    """Per-iteration losses to `loss_log.jsonl` (the GUI reads it) and TensorBoard events;
    the scores measured at a save go to both too. Written to disk at every save."""

    def __init__(self, model_dir: Path, saved_iteration: int = 0) -> None:
        self.path = model_dir / "loss_log.jsonl"
        self.pending: list[str] = []
        self._cut_back(saved_iteration)
        self.tensorboard = ScalarWriter(model_dir / "logs")

    def _cut_back(self, saved_iteration: int) -> None:
        """Drop the lines past the last save: a run killed (or failing to save) after the log
        was written but before the model was would otherwise see those iterations twice
        once resumed. A line cut short by a kill goes too."""
        if not self.path.exists():
            return
        lines = read_bytes(self.path, "loss log").decode("utf-8", "replace").splitlines()
        kept = [line for line in lines if _logged_iteration(line) <= saved_iteration]
        if len(kept) != len(lines):
            atomic_write(self.path, "".join(line + "\n" for line in kept))

    def on_step(self, run: TrainingRun, loss_a: float, loss_b: float) -> None:
        self.pending.append(json.dumps({"iteration": run.iteration,
                                        "time": round(time.time(), 3),
                                        "loss_a": loss_a, "loss_b": loss_b}))
        self.tensorboard.add_scalars(run.iteration, {"loss/a": loss_a, "loss/b": loss_b})

    def on_save(self, run: TrainingRun) -> None:
        values = run.metrics.get(run.iteration)
        if values:
            self.pending.append(json.dumps({"iteration": run.iteration,
                                            "time": round(time.time(), 3), **values}))
            self.tensorboard.add_scalars(run.iteration, values)
        self.flush()

    def flush(self) -> None:
        if self.pending:
            append_text(self.path, "\n".join(self.pending) + "\n")
            self.pending = []
        self.tensorboard.flush()

    def on_end(self, run: TrainingRun) -> None:
        # Lines past the last save are dropped: a resumed run does those iterations again.
        self.pending = []
        self.tensorboard.close()


def _logged_iteration(line: str) -> float:
    """The iteration a loss log line is about; infinity for a line that is not whole."""
    try:
        value = json.loads(line).get("iteration")
    except (ValueError, AttributeError, RecursionError):
        return math.inf
    return value if isinstance(value, int) and not isinstance(value, bool) else math.inf


class Checkpointer(Callback):
    """Saves weights, optimizer and random state; keeps a backup whenever the average loss
    improves and a snapshot every `snapshot_interval` iterations."""

    def __init__(self, optimizer: torch.optim.Optimizer,
                 generators: dict[str, torch.Generator]) -> None:
        self.optimizer = optimizer
        self.generators = generators  # saved so a resumed run draws what this one would have

    def on_save(self, run: TrainingRun) -> None:
        model_dir, state = run.config.model_dir, run.state
        rng = {name: generator.get_state() for name, generator in self.generators.items()}
        checkpoint.save_checkpoint(model_dir, state, run.model.contiguous_state_dict(),
                                   self.optimizer, rng)
        run.saved_iteration = run.iteration
        run.emit(Saved(run.iteration, "model", str(model_dir)))
        average = state.loss.get("average", math.inf)
        if average < state.loss.get("best_average", math.inf):
            state.loss["best_average"] = average
            checkpoint.copy_checkpoint(model_dir, model_dir / "backups")
            run.emit(Saved(run.iteration, "backup", str(model_dir / "backups")))
        interval = run.config.snapshot_interval
        if interval and run.iteration % interval == 0:
            folder = model_dir / "snapshots" / f"{run.iteration:09d}"
            checkpoint.copy_checkpoint(model_dir, folder)
            run.emit(Saved(run.iteration, "snapshot", str(folder)))
