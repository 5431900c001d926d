"""What one training run needs: the `train` options as a typed config, saved with the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from faceforge.errors import UsageError
from faceforge.nn.losses import LossConfig
from faceforge.options import TRAIN_OPTIONS, option_defaults
from faceforge.training.augment import AugmentConfig

_PATHS = ("input_a", "input_b", "model_dir", "alignments_a", "alignments_b",
          "timelapse_input_a", "timelapse_input_b", "timelapse_output")
# Options that say how to run, not what the model is: not saved in the model's state.
_NOT_SAVED = ("model_dir", "iterations", "device", "distributed", "precision", "cpu_kernels")


@dataclass
@option_defaults(TRAIN_OPTIONS)
class TrainConfig:
    """Every `train` option (defaults from faceforge.options.train), plus the device."""

    input_a: Path
    input_b: Path
    model_dir: Path
    alignments_a: Path | None
    alignments_b: Path | None
    trainer: str
    centering: str
    coverage: float
    batch_size: int
    iterations: int
    warmup: int
    lr_decay: float
    learning_rate: float | None
    optimizer: str
    epsilon: float
    clip_grad: float
    accumulate: int
    loss: list[str]
    no_mask_loss: bool
    eye_multiplier: float
    mouth_multiplier: float
    distributed: bool
    seed: int
    warp_to_landmarks: bool
    no_flip: bool
    no_augment_color: bool
    no_warp: bool
    save_interval: int
    snapshot_interval: int
    write_image: bool
    preview_scale: int
    timelapse_input_a: Path | None
    timelapse_input_b: Path | None
    timelapse_output: Path | None
    no_identity: bool
    no_quality: bool
    precision: str
    cpu_kernels: str
    device: str | None = None  # None: cuda if available, else cpu

    def __post_init__(self) -> None:
        for name in _PATHS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.batch_size < 1:
            raise UsageError("--batch-size must be 1 or more")
        if self.iterations < 1:
            raise UsageError(f"--iterations {self.iterations} is out of range",
                             "train for 1 or more iterations in total, e.g. -it 100000")
        if self.save_interval < 1:
            raise UsageError("--save-interval must be 1 or more")
        if not 0.0 <= self.lr_decay <= 100.0:
            raise UsageError(f"--lr-decay {self.lr_decay} is out of range",
                             "use 0 to 100 (percent)")
        if self.accumulate < 1:
            raise UsageError("--accumulate must be 1 or more")
        if not 10.0 <= self.coverage <= 200.0:
            raise UsageError(f"--coverage {self.coverage} is out of range", "use 50 to 100")
        if (self.timelapse_input_a is None) != (self.timelapse_input_b is None):
            raise UsageError("a time-lapse needs both -x and -y faces folders")

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
        for key in _NOT_SAVED:
            data.pop(key, None)
        return data
