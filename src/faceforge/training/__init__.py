"""Training: the loop and its step, face sets, sampler, augmentation, callbacks, checkpoints and
the choice of precision and kernels. `train(config, on_event, stop)` is the library call the CLI
and the GUI make."""

from faceforge.training.config import TrainConfig
from faceforge.training.loop import TrainingRun, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "TrainingRun", "train"]
