"""Things that happen around the training loop at each step or save: loss logs, previews,
time-lapse frames, and the identity-match score. Each is a small class with `on_step` and/or
`on_save`; the loop in `train.py` just calls them.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from faceforge.io.tensorboard import ScalarWriter

log = logging.getLogger(__name__)


class Callback:
    def on_step(self, iteration: int, loss_a: float, loss_b: float) -> None:
        """After every iteration."""

    def on_save(self, iteration: int, swapper: Swapper) -> dict[str, float]:
        """At every save; may return values to record in the logs."""
        return {}

    def close(self) -> None:
        pass


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


def _to_uint8_hwc(tensor: torch.Tensor, size: int) -> np.ndarray:
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
        left = [_to_uint8_hwc(t, tile) for t in (faces_a[i], a_a[i], a_b[i])]
        right = [_to_uint8_hwc(t, tile) for t in (faces_b[i], b_b[i], b_a[i])]
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
    from faceforge.io.files import atomic_write

    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write(path, data.tobytes())


class Preview(Callback):
    """preview.png in the model folder: fixed faces of both sides and their swaps."""

    def __init__(self, path: Path, faces_a: torch.Tensor, faces_b: torch.Tensor,
                 scale_percent: int, base_tile: int) -> None:
        self.path = path
        self.faces_a, self.faces_b = faces_a, faces_b
        self.tile = max(16, int(round(base_tile * scale_percent / 100)))

    def on_save(self, iteration: int, swapper: Swapper) -> dict[str, float]:
        grid = swap_grid(self.faces_a, self.faces_b, swapper, self.tile)
        write_png(self.path, _label(grid, self.tile))
        return {}


class Timelapse(Callback):
    """The same faces' swaps at every save, one numbered image each, for a time-lapse."""

    def __init__(self, folder: Path, faces_a: torch.Tensor, faces_b: torch.Tensor,
                 tile: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.faces_a, self.faces_b, self.tile = faces_a, faces_b, tile

    def on_save(self, iteration: int, swapper: Swapper) -> dict[str, float]:
        grid = swap_grid(self.faces_a, self.faces_b, swapper, self.tile)
        write_png(self.folder / f"{iteration:09d}.png", grid)
        return {}


class LossLog(Callback):
    """Per-iteration losses to `loss_log.jsonl` (the GUI reads it) and TensorBoard events."""

    def __init__(self, model_dir: Path) -> None:
        self.path = model_dir / "loss_log.jsonl"
        self.pending: list[str] = []
        self.tensorboard = ScalarWriter(model_dir / "logs")

    def on_step(self, iteration: int, loss_a: float, loss_b: float) -> None:
        self.pending.append(json.dumps({"iteration": iteration, "time": round(time.time(), 3),
                                        "loss_a": loss_a, "loss_b": loss_b}))
        self.tensorboard.add_scalars(iteration, {"loss/a": loss_a, "loss/b": loss_b})

    def record(self, iteration: int, values: dict[str, float]) -> None:
        if values:
            self.pending.append(json.dumps({"iteration": iteration, "time": round(time.time(), 3),
                                            **values}))
            self.tensorboard.add_scalars(iteration, values)

    def flush(self) -> None:
        if self.pending:
            with open(self.path, "a") as handle:
                handle.write("\n".join(self.pending) + "\n")
            self.pending = []
        self.tensorboard.flush()

    def close(self) -> None:
        self.flush()
        self.tensorboard.close()


class IdentityMatch(Callback):
    """How much the A→B swaps look like B to a face-recognition network (dlib, 128-d).

    Computed once: the centroids of A's and B's training faces. At each save: a fixed sample of
    A faces is swapped to B, and the mean distance of the swaps to each centroid is logged, plus
    the share of swaps nearer B than A. Landmarks of the A faces stand in for the swaps' own,
    since a swap keeps A's pose and expression.
    """

    upscale = 4  # dlib's descriptor wants about 150 px faces; training crops are smaller

    def __init__(self, faces_a: torch.Tensor, landmarks_a: torch.Tensor,
                 faces_b: torch.Tensor, landmarks_b: torch.Tensor, sample: int = 16) -> None:
        from faceforge.plugins.identity import FaceDescriber

        self.describer = FaceDescriber()
        self.sample_faces = faces_a[:sample]
        self.sample_landmarks = landmarks_a[:sample]
        self.centroid_a = self._describe(faces_a[:64], landmarks_a[:64]).mean(axis=0)
        self.centroid_b = self._describe(faces_b[:64], landmarks_b[:64]).mean(axis=0)
        self.baseline = float(np.linalg.norm(self.centroid_a - self.centroid_b))

    def _describe(self, faces: torch.Tensor, landmarks: torch.Tensor) -> np.ndarray:
        out = []
        for face, points in zip(faces, landmarks, strict=True):
            size = face.shape[-1] * self.upscale
            image = _to_uint8_hwc(face, size)
            scale = size / face.shape[-1]
            out.append(self.describer.describe(image, [points.numpy() * scale])[0])
        return np.stack(out)

    def on_save(self, iteration: int, swapper: Swapper) -> dict[str, float]:
        started = time.perf_counter()
        swapped = swapper(self.sample_faces, "b")
        input_size = self.sample_faces.shape[-1]
        # Swaps may be larger than the crops (e.g. dfaker 64→128): scale landmarks to match.
        landmarks = self.sample_landmarks * (swapped.shape[-1] / input_size)
        descriptors = self._describe(swapped, landmarks)
        to_b = np.linalg.norm(descriptors - self.centroid_b, axis=1)
        to_a = np.linalg.norm(descriptors - self.centroid_a, axis=1)
        log.debug("identity match took %.0f ms", (time.perf_counter() - started) * 1000)
        return {"identity/a2b_to_b": float(to_b.mean()), "identity/a2b_to_a": float(to_a.mean()),
                "identity/a2b_nearer_b": float((to_b < to_a).mean())}
