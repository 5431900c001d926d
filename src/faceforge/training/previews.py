"""Pictures of training at each save: `preview.png` in the model folder and time-lapse frames,
both made by swapping fixed faces with the model in its current state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from faceforge.events import PreviewWritten
from faceforge.io.files import atomic_write
from faceforge.training.callbacks import Callback

if TYPE_CHECKING:
    from faceforge.training.loop import TrainingRun


class Swapper:
    """Runs the model on fixed faces without gradients, for previews and scores."""

    def __init__(self, model: torch.nn.Module, device: torch.device, input_size: int,
                 autocast_dtype: torch.dtype | None) -> None:
        self.model = model
        self.device = device
        self.input_size = input_size
        self.autocast_dtype = autocast_dtype

    @torch.no_grad()
    def __call__(self, faces_uint8: torch.Tensor, side: str) -> torch.Tensor:
        """uint8 N,3,S,S crops → float N,3,out,out predictions by `side`'s decoder."""
        was_training = self.model.training
        self.model.eval()
        try:
            faces = faces_uint8.to(self.device).float() / 255.0
            if faces.shape[-1] != self.input_size:
                faces = torch.nn.functional.interpolate(
                    faces, size=(self.input_size, self.input_size), mode="area")
            with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                                enabled=self.autocast_dtype is not None):
                out = self.model(faces, side)
            if isinstance(out, tuple):
                out = out[0]
            return out.float().clamp(0, 1).cpu()
        finally:
            self.model.train(was_training)


def to_uint8_hwc(tensor: torch.Tensor, size: int) -> np.ndarray:
    """float/uint8 3,H,W → uint8 size,size,3."""
    image = tensor.float()
    if tensor.dtype == torch.uint8:
        image = image / 255.0
    array = (image.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    if array.shape[0] != size:
        array = cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA
                           if array.shape[0] > size else cv2.INTER_CUBIC)
    return array


def swap_grid(faces_a: torch.Tensor, faces_b: torch.Tensor, swapper: Swapper,
              tile: int) -> np.ndarray:
    """Rows of A | A→A | A→B || B | B→B | B→A, as an RGB uint8 image."""
    a_a, a_b = swapper(faces_a, "a"), swapper(faces_a, "b")
    b_b, b_a = swapper(faces_b, "b"), swapper(faces_b, "a")
    rows = []
    gap = np.full((tile, max(2, tile // 16), 3), 255, np.uint8)
    for i in range(min(len(faces_a), len(faces_b))):
        left = [to_uint8_hwc(t, tile) for t in (faces_a[i], a_a[i], a_b[i])]
        right = [to_uint8_hwc(t, tile) for t in (faces_b[i], b_b[i], b_a[i])]
        rows.append(np.hstack(left + [gap] + right))
    return np.vstack(rows)


def _label(grid: np.ndarray, tile: int) -> np.ndarray:
    header = np.full((max(18, tile // 6), grid.shape[1], 3), 255, np.uint8)
    gap = max(2, tile // 16)
    labels = ["A", "A>A", "A>B", "B", "B>B", "B>A"]
    for i, text in enumerate(labels):
        x = i * tile + (gap if i >= 3 else 0) + 4
        cv2.putText(header, text, (x, header.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, tile / 200), (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([header, grid])


def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write(path, data.tobytes(), durable=False)


def mask_grid(masks_a: torch.Tensor, masks_b: torch.Tensor, tile: int) -> np.ndarray:
    """The training face masks laid out as `swap_grid` lays out the faces: float HxWx1."""
    gap = np.ones((tile, max(2, tile // 16)), np.float32)
    rows = []
    for mask_a, mask_b in zip(masks_a, masks_b, strict=False):
        a = cv2.resize(mask_a.numpy().astype(np.float32) / 255, (tile, tile))
        b = cv2.resize(mask_b.numpy().astype(np.float32) / 255, (tile, tile))
        rows.append(np.hstack([a, a, a, gap, b, b, b]))
    return np.vstack(rows)[..., None]


class Preview(Callback):
    """preview.png in the model folder: fixed faces of both sides and their swaps; with face
    masks, also preview_masked.png, the same grid dimmed outside the area the loss weighs."""

    def __init__(self, path: Path, faces_a: torch.Tensor, faces_b: torch.Tensor,
                 scale_percent: int, base_tile: int, masks_a: torch.Tensor | None = None,
                 masks_b: torch.Tensor | None = None) -> None:
        self.path = path
        self.faces_a, self.faces_b = faces_a, faces_b
        self.masks_a, self.masks_b = masks_a, masks_b
        self.tile = max(16, int(round(base_tile * scale_percent / 100)))

    def on_save(self, run: TrainingRun) -> None:
        grid = swap_grid(self.faces_a, self.faces_b, run.swapper, self.tile)
        if self.masks_a is not None and self.masks_b is not None:
            weight = 0.3 + 0.7 * mask_grid(self.masks_a, self.masks_b, self.tile)
            masked = (grid.astype(np.float32) * weight).round().astype(np.uint8)
            write_png(self.path.with_name(f"{self.path.stem}_masked.png"),
                      _label(masked, self.tile))
        write_png(self.path, _label(grid, self.tile))
        run.emit(PreviewWritten(run.iteration, str(self.path)))


class Timelapse(Callback):
    """The same faces' swaps at every save, one numbered image each, for a time-lapse."""

    def __init__(self, folder: Path, faces_a: torch.Tensor, faces_b: torch.Tensor,
                 tile: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.faces_a, self.faces_b, self.tile = faces_a, faces_b, tile

    def on_save(self, run: TrainingRun) -> None:
        path = self.folder / f"{run.iteration:09d}.png"
        write_png(path, swap_grid(self.faces_a, self.faces_b, run.swapper, self.tile))
        run.emit(PreviewWritten(run.iteration, str(path)))


