"""One training iteration: sample both sides, augment on the device, forward, loss, step.

`TrainStep` holds everything the iteration needs, so the loop (and the speed benchmark) just
call it; `measure` times its forward and backward under other compute settings without
touching the weights, for the automatic precision and kernel choice.
"""

from __future__ import annotations

import torch
from torch import nn

from faceforge.nn.losses import LossConfig, face_loss, learned_mask_loss
from faceforge.plugins.model import FaceSwapModel
from faceforge.training.augment import AugmentConfig, AugmentedBatch, augment_batch
from faceforge.training.face_sets import FaceSet
from faceforge.training.precision import Compute, apply_compute, time_per_call
from faceforge.training.sampler import Sampler


class PairModel(nn.Module):
    """Both sides in one forward call, so DistributedDataParallel sees every parameter used."""

    def __init__(self, model: FaceSwapModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, faces_a: torch.Tensor, faces_b: torch.Tensor) -> tuple:
        return self.model.forward_pair(faces_a, faces_b)


def side_loss(output: torch.Tensor | tuple[torch.Tensor, torch.Tensor], batch: AugmentedBatch,
              losses: LossConfig) -> torch.Tensor:
    """One side's loss: face loss weighted by the face/eye/mouth masks, plus the learned mask's."""
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


class TrainStep:
    """Callable: one optimizer step over `accumulate` batches; returns the mean (loss A, loss B).

    One GradScaler path serves every precision: it scales only for fp16 and is a no-op otherwise.
    """

    def __init__(self, model: FaceSwapModel, pair: nn.Module, optimizer: torch.optim.Optimizer,
                 sets: tuple[FaceSet, FaceSet], samplers: tuple[Sampler, Sampler],
                 augment: AugmentConfig, losses: LossConfig, *, batch_size: int,
                 accumulate: int = 1, clip_grad: float = 0.0, device: torch.device,
                 compute: Compute, generator: torch.Generator) -> None:
        self.model, self.pair, self.optimizer = model, pair, optimizer
        self.sets, self.samplers = sets, samplers
        self.augment, self.losses = augment, losses
        self.batch_size, self.accumulate, self.clip_grad = batch_size, accumulate, clip_grad
        self.device, self.generator = device, generator
        self.compute = compute
        self.scaler = torch.amp.GradScaler(device.type,
                                           enabled=compute.autocast == torch.float16)

    def batch(self, side: int, generator: torch.Generator | None = None) -> AugmentedBatch:
        """An augmented batch of side 0 (A) or 1 (B), drawn by the side's sampler."""
        face_set = self.sets[side]
        picks = self.samplers[side].next(self.batch_size)
        images = face_set.images[picks].to(self.device, non_blocking=True)
        masks = face_set.masks[picks].to(self.device, non_blocking=True)
        landmarks = (face_set.landmarks[picks].to(self.device)
                     if self.augment.warp_to_landmarks else None)
        if self._channels_last():
            images = images.contiguous(memory_format=torch.channels_last)
        return augment_batch(images, self.augment, generator or self.generator,
                             out_size_input=self.model.input_size,
                             out_size_target=self.model.output_size, masks=masks,
                             landmarks=landmarks)

    def _channels_last(self) -> bool:
        return self.compute.autocast is not None or self.device.type == "cuda"

    def forward_backward(self, batch_a: AugmentedBatch, batch_b: AugmentedBatch,
                         divisor: int = 1, pair: nn.Module | None = None,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Losses of both sides with their gradients accumulated into the parameters."""
        autocast = self.compute.autocast
        with torch.autocast(self.device.type, dtype=autocast or torch.float32,
                            enabled=autocast is not None):
            out_a, out_b = (pair or self.pair)(batch_a.inputs, batch_b.inputs)
        loss_a = side_loss(out_a, batch_a, self.losses)
        loss_b = side_loss(out_b, batch_b, self.losses)
        self.scaler.scale((loss_a + loss_b) / divisor).backward()
        return loss_a.detach(), loss_b.detach()

    def __call__(self) -> tuple[float, float]:
        total_a = total_b = 0.0
        for _ in range(self.accumulate):
            batch_a, batch_b = self.batch(0), self.batch(1)
            loss_a, loss_b = self.forward_backward(batch_a, batch_b, self.accumulate)
            total_a += float(loss_a)
            total_b += float(loss_b)
        if self.clip_grad:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return total_a / self.accumulate, total_b / self.accumulate

    def measure(self, compute: Compute) -> float:
        """Seconds per forward and backward pass under `compute`; the weights are not changed
        and the step's own random streams are not used, so training goes on as if never
        measured. The step is left running as it was."""
        own = self.compute
        generator = torch.Generator(device=self.device).manual_seed(0)
        samplers = self.samplers
        self.samplers = tuple(Sampler(len(s), torch.Generator().manual_seed(1))
                              for s in self.sets)
        try:
            self.compute = compute
            apply_compute(self.model, compute, self.device)
            batches = (self.batch(0, generator), self.batch(1, generator))
            # The bare model: a DistributedDataParallel wrapper would wait for the other
            # processes' gradients, and only this one measures.
            bare = PairModel(self.model)

            def run() -> None:
                self.forward_backward(*batches, pair=bare)
                self.model.zero_grad(set_to_none=True)

            return time_per_call(run)
        finally:
            self.samplers = samplers
            self.compute = own
            apply_compute(self.model, own, self.device)
            self.model.zero_grad(set_to_none=True)
