"""In-memory stand-ins for the training unit tests: a tiny model, synthetic face sets, a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from faceforge.core import geometry
from faceforge.formats.model_state import ModelState, Session
from faceforge.nn.losses import LossConfig
from faceforge.plugins.model.base import FaceSwapModel, ModelConfig
from faceforge.training.augment import AugmentConfig
from faceforge.training.config import TrainConfig
from faceforge.training.face_sets import FaceSet
from faceforge.training.loop import TrainingRun
from faceforge.training.precision import Compute
from faceforge.training.sampler import Sampler
from faceforge.training.step import PairModel, TrainStep

SIZE = 16


@dataclass
class TinyConfig(ModelConfig):
    learning_rate: float = 1e-3

    @property
    def input_size(self) -> int:
        return SIZE

    @property
    def output_size(self) -> int:
        return SIZE


class TinyModel(FaceSwapModel):
    """One shared convolution, one per side: enough to learn something in a few steps."""

    name = "tiny"
    config_class = TinyConfig

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        self.encoder = nn.Conv2d(3, 8, 3, padding=1)
        self.decoder_a = nn.Conv2d(8, 3, 3, padding=1)
        self.decoder_b = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, faces: Tensor, side: str) -> Tensor:
        decoder = self.decoder_a if side == "a" else self.decoder_b
        return torch.sigmoid(decoder(torch.relu(self.encoder(faces))))


def face_set(side: str, count: int = 6, seed: int = 0) -> FaceSet:
    """Smooth random faces with a face mask over the middle and eye/mouth strips."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((count, 3, 4, 4), generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear")
    images = (smooth * 255).round().to(torch.uint8)
    masks = torch.zeros(count, 3, SIZE, SIZE, dtype=torch.uint8)
    masks[:, 0, 2:-2, 2:-2] = 255
    masks[:, 1, 5:7, 3:-3] = 255
    masks[:, 2, 11:13, 5:-5] = 255
    mean = torch.tensor(geometry.mean_face(), dtype=torch.float32)
    landmarks = torch.zeros(count, 68, 2)
    landmarks[:, 17:] = mean * SIZE * 0.6 + SIZE * 0.2
    return FaceSet(side, Path(f"faces_{side}"), images, masks, landmarks,
                   [f"face_{side}_{i}.png" for i in range(count)])


def train_step(model: TinyModel | None = None, batch_size: int = 4, accumulate: int = 1,
               compute: Compute | None = None, seed: int = 0) -> TrainStep:
    model = model or TinyModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    sets = (face_set("a", seed=1), face_set("b", seed=2))
    samplers = (Sampler(len(sets[0]), torch.Generator().manual_seed(seed)),
                Sampler(len(sets[1]), torch.Generator().manual_seed(seed + 1)))
    return TrainStep(model, PairModel(model), optimizer, sets, samplers,
                     AugmentConfig(color=False, warp=False, flip_chance=0.0),
                     LossConfig(names=["mse"], weights=[1.0], mask_penalty=True,
                                eye_multiplier=3.0, mouth_multiplier=2.0),
                     batch_size=batch_size, accumulate=accumulate,
                     device=torch.device("cpu"), compute=compute or Compute("fp32", True),
                     generator=torch.Generator().manual_seed(seed + 2))


class FakeSwapper:
    """Returns the faces it is given, as floats: previews without a model."""

    def __call__(self, faces_uint8: Tensor, side: str) -> Tensor:
        return faces_uint8.float() / 255.0


def training_run(model_dir: Path, iteration: int = 0, **config: object) -> tuple[TrainingRun,
                                                                                   list]:
    """A TrainingRun over a TinyModel whose events are collected in the returned list."""
    events: list = []
    train_config = TrainConfig(input_a=Path("a"), input_b=Path("b"), model_dir=model_dir,
                               trainer="tiny", batch_size=4, **config)
    model = TinyModel()
    state = ModelState(trainer="tiny", model_config=model.config.to_dict(),
                       train_config=train_config.saved(), iterations=iteration)
    session = Session(start=0.0, start_iteration=iteration, batch_size=4)
    state.sessions.append(session)
    run = TrainingRun(train_config, model, state, session, FakeSwapper(), events.append,
                      iteration=iteration, start_iteration=iteration,
                      saved_iteration=iteration)
    return run, events
