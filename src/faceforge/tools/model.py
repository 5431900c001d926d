"""`tools model ...`: what a model folder holds, going back to its backup or a snapshot,
checking its weights for NaN/Inf, and exporting a decoder for inference (ONNX, TorchScript)
checked against PyTorch.

A model folder is read through formats.model_state and training.checkpoint; every file is
written through io.files (atomically), and a restore first keeps the current save as a
snapshot, so nothing is lost.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.errors import UsageError
from faceforge.events import EventSink, Note, ignore
from faceforge.formats.model_state import ModelState, read_state
from faceforge.io.files import atomic_output, atomic_write, ensure_writable_dir
from faceforge.options import option_defaults
from faceforge.options import tools as opts
from faceforge.tools.progress import Counter, interruptible

log = logging.getLogger(__name__)


def checkpoint_folders(model_dir: Path) -> dict[str, Path]:
    """Every saved checkpoint of a model folder: "model", "backup", "snapshot <name>"."""
    out = {"model": model_dir}
    if (model_dir / "backups" / "state.json").exists():
        out["backup"] = model_dir / "backups"
    snapshots = model_dir / "snapshots"
    if snapshots.is_dir():
        for folder in sorted(snapshots.iterdir()):
            if (folder / "state.json").exists():
                out[f"snapshot {folder.name}"] = folder
    return out


# --------------------------------------------------------------------------------------
# info


@dataclass
@option_defaults(opts.MODEL_INFO)
class InfoConfig:
    model_dir: Path

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)


@dataclass
class InfoResult:
    model_dir: Path
    trainer: str
    iterations: int
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    sessions: list[dict[str, Any]]
    loss: dict[str, Any]
    weights_values: int
    checkpoints: dict[str, int] = field(default_factory=dict)  # name -> iteration
    tool_version: str = ""
    # The backup is kept at the best average loss so far: that loss and its iteration.
    best_loss: float | None = None
    best_iteration: int | None = None

    def lines(self) -> list[str]:
        out = [f"model: {self.model_dir}", f"trainer: {self.trainer}",
               f"iterations: {self.iterations}",
               f"weights: {self.weights_values:,} values",
               "config: " + ", ".join(f"{k}={v}" for k, v in sorted(self.model_config.items())),
               "training: " + ", ".join(f"{k}={v}" for k, v in sorted(self.train_config.items())
                                        if not isinstance(v, (list, dict)))]
        for number, session in enumerate(self.sessions, 1):
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(session["start"]))
            speed = session.get("egs_per_s")
            out.append(f"session {number}: {started}, iterations {session['start_iteration']}"
                       f"-{session['start_iteration'] + session['iterations']}, batch "
                       f"{session['batch_size']}, "
                       + (f"{speed:.1f} EGs/s" if speed else "EGs/s not recorded"))
        for key, value in sorted(self.loss.items()):
            if isinstance(value, float):
                out.append(f"loss {key.replace('_', ' ')}: {value:.5f}")
            else:
                out.append(f"loss {key.replace('_', ' ')}: {value}")
        if self.best_loss is not None:
            out.append(f"best loss: {self.best_loss:.5f} at iteration {self.best_iteration} "
                       "(the backup)")
        for name, iteration in self.checkpoints.items():
            out.append(f"{name}: iteration {iteration}")
        return out


def _weights_values(folder: Path, state: ModelState) -> int:
    from safetensors import safe_open

    name = state.files.get("weights")
    if not name or not (folder / name).exists():
        return 0
    total = 0
    with safe_open(str(folder / name), framework="pt") as handle:
        for key in handle.keys():
            total += math.prod(handle.get_slice(key).get_shape())
    return total


def info(config: InfoConfig, on_event: EventSink | None = None,
         stop: threading.Event | None = None) -> InfoResult:
    """Trainer, config, iterations, sessions with their EGs/s, losses and saved checkpoints."""
    from faceforge.training.checkpoint import model_folder_state

    state = model_folder_state(config.model_dir)
    checkpoints = {}
    best: tuple[float | None, int | None] = (None, None)
    for name, folder in checkpoint_folders(config.model_dir).items():
        if name != "model":
            saved = read_state(folder)
            checkpoints[name] = saved.iterations if saved else 0
            if name == "backup" and saved is not None and "average" in saved.loss:
                best = (float(saved.loss["average"]), saved.iterations)
    return InfoResult(
        config.model_dir, state.trainer, state.iterations, state.model_config,
        state.train_config, [dataclasses.asdict(session) for session in state.sessions], state.loss,
        _weights_values(config.model_dir, state), checkpoints, state.tool_version, *best)


# --------------------------------------------------------------------------------------
# restore


@dataclass
@option_defaults(opts.MODEL_RESTORE)
class RestoreConfig:
    model_dir: Path
    restore_from: str

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)


@dataclass
class RestoreResult:
    model_dir: Path
    restored_from: Path
    iteration_before: int
    iteration_now: int
    kept_as: Path

    def lines(self) -> list[str]:
        return [f"restored {self.model_dir} from {self.restored_from}: iteration "
                f"{self.iteration_before} -> {self.iteration_now}",
                f"the save it replaced is kept in {self.kept_as}"]


def _restore_source(model_dir: Path, which: str) -> Path:
    if which == "backup":
        folder = model_dir / "backups"
    else:
        try:
            folder = model_dir / "snapshots" / f"{int(which):09d}"
        except ValueError:
            folder = model_dir / "snapshots" / which
    if not (folder / "state.json").exists():
        available = [name for name in checkpoint_folders(model_dir) if name != "model"]
        raise UsageError(f"{model_dir} has no {which} to restore from",
                         "choose one of: " + (", ".join(available) or "none saved yet"))
    return folder


def restore(config: RestoreConfig, on_event: EventSink | None = None,
            stop: threading.Event | None = None) -> RestoreResult:
    """Put the backup (or a snapshot) back as the model's save. The current save is first
    copied to snapshots/before-restore-<time>/, so the restore itself can be undone."""
    from faceforge.training.checkpoint import (
        build_saved_model,
        copy_checkpoint,
        model_folder_state,
    )

    state = model_folder_state(config.model_dir)
    source = _restore_source(config.model_dir, config.restore_from)
    saved = read_state(source)
    assert saved is not None
    build_saved_model(source, saved)  # one clear error if the backup is damaged
    kept = config.model_dir / "snapshots" / f"before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
    with interruptible("tools model restore", "the model folder is as it was or restored; "
                       "run the same command again"):
        copy_checkpoint(config.model_dir, kept)
        copy_checkpoint(source, config.model_dir)
    (on_event or ignore)(Note(f"kept the replaced save at iteration {state.iterations} in "
                              f"{kept}"))
    return RestoreResult(config.model_dir, source, state.iterations, saved.iterations, kept)


# --------------------------------------------------------------------------------------
# nan-scan


@dataclass
@option_defaults(opts.MODEL_NAN_SCAN)
class NanScanConfig:
    model_dir: Path

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)


@dataclass
class NanScanResult:
    files_scanned: int
    tensors_scanned: int
    values_scanned: int
    bad: list[dict[str, Any]] = field(default_factory=list)  # file, tensor, nan, inf

    def lines(self) -> list[str]:
        if not self.bad:
            return [f"no NaN or infinite values in {self.values_scanned:,} values of "
                    f"{self.tensors_scanned} tensors in {self.files_scanned} files"]
        out = [f"{len(self.bad)} tensors hold NaN or infinite values:"]
        out += [f"  {b['file']}: {b['tensor']}: {b['nan']} NaN, {b['inf']} infinite"
                for b in self.bad]
        return out


def nan_scan(config: NanScanConfig, on_event: EventSink | None = None,
             stop: threading.Event | None = None) -> NanScanResult:
    """Every tensor of every checkpoint (model, backup, snapshots; weights and optimizer),
    checked for NaN and infinite values."""
    from faceforge.training.checkpoint import model_folder_state

    model_folder_state(config.model_dir)
    files = []
    for folder in checkpoint_folders(config.model_dir).values():
        state = read_state(folder)
        if state is not None:
            files += [folder / name for name in state.files.values() if (folder / name).exists()]
    result = NanScanResult(len(files), 0, 0)
    counter = Counter(len(files), "file", on_event, stop, "tools model nan-scan")
    with interruptible("tools model nan-scan", "nothing was changed"):
        _scan(files, config.model_dir, result, counter)
    return result


def _scan(files: list[Path], model_dir: Path, result: NanScanResult, counter: Counter) -> None:
    import torch
    from safetensors import safe_open

    for path in files:
        counter.check_stop("nothing was changed")
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                tensor = handle.get_tensor(key)
                result.tensors_scanned += 1
                result.values_scanned += tensor.numel()
                if not tensor.is_floating_point():
                    continue
                nan = int(torch.isnan(tensor).sum())
                inf = int(torch.isinf(tensor).sum())
                if nan or inf:
                    result.bad.append({"file": str(path.relative_to(model_dir)),
                                       "tensor": key, "nan": nan, "inf": inf})
        counter.advance()


# --------------------------------------------------------------------------------------
# export


@dataclass
@option_defaults(opts.MODEL_EXPORT)
class ExportConfig:
    model_dir: Path
    output: Path
    format: str
    side: str
    faces: Path | None
    opset: int

    def __post_init__(self) -> None:
        self.model_dir, self.output = Path(self.model_dir), Path(self.output)
        self.faces = None if self.faces in (None, "") else Path(self.faces)


@dataclass
class ExportResult:
    output: Path
    format: str
    side: str
    input_size: int
    output_size: int
    outputs: list[str]
    checked_faces: int
    max_abs_error: float | None  # largest |exported - PyTorch| over every output value
    checked_with: str

    def lines(self) -> list[str]:
        out = [f"wrote {self.output} ({self.format}): decoder {self.side.upper()}, input "
               f"Nx3x{self.input_size}x{self.input_size} RGB in [0, 1], outputs "
               f"{', '.join(self.outputs)} at {self.output_size} px; how to crop the faces: "
               f"{self.output}.json"]
        if self.max_abs_error is None:
            out.append(f"not checked: {self.checked_with}")
        else:
            out.append(f"checked on {self.checked_faces} faces ({self.checked_with}): largest "
                       f"difference from PyTorch {self.max_abs_error:.2e}")
        return out


def plain_convolutions(model: Any) -> Any:
    """The model with every convolution a plain `F.conv2d` of its stored weights, as the
    exporters can trace it: faceforge's own CPU kernels are switched off, and the upscale
    convolutions that regroup their weights on the fly (a custom autograd function, which
    the tracers record as an uninitialised tensor) get the regrouped weights stored instead.
    Same numbers: it is the same convolution with the same weights in the same order."""
    import torch

    from faceforge.nn.fast_conv import FastConv2d, use_cpu_kernels

    use_cpu_kernels(model, False)
    with torch.no_grad():
        for layer in model.modules():
            groups = getattr(layer, "subpixel_groups", 1)
            if not isinstance(layer, FastConv2d) or groups <= 1:
                continue
            for name in ("weight", "bias"):
                value = getattr(layer, name)
                if value is not None:
                    rest = value.shape[1:]
                    value.copy_(value.clone().view(-1, groups, *rest).transpose(0, 1)
                                .reshape(value.shape))
            layer.subpixel_groups = 1
    return model


def _swap_module(model: Any, side: str) -> Any:
    import torch

    class Swap(torch.nn.Module):
        """The model's encoder and one decoder, as one inference function."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, faces: torch.Tensor) -> Any:
            return self.model(faces, side)

    return Swap().eval()


def model_crops(faces_dir: Path, state: ModelState, input_size: int,
                limit: int = 16) -> np.ndarray:
    """Up to `limit` real faces of a faces folder, cropped as training and convert crop them:
    float32 (N, 3, size, size) RGB in [0, 1]."""
    import cv2

    from faceforge.core import geometry
    from faceforge.formats.face_png import read_face_png
    from faceforge.tools.face_folder import list_face_pngs

    centering = state.train_config.get("centering", "face")
    coverage = float(state.train_config.get("coverage", 87.5)) / 100
    crops = []
    for path in list_face_pngs(faces_dir)[:limit]:
        image, meta = read_face_png(path)
        matrix = geometry.change_crop(meta["size"], meta["centering"], input_size, centering,
                                      float(meta.get("coverage") or 1.0), coverage)
        crops.append(cv2.warpAffine(image, matrix, (input_size, input_size),
                                    flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE))
    if not crops:
        raise UsageError(f"no face images in {faces_dir}", "pass a faces folder with -fc")
    return (np.stack(crops).astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy()


def _as_list(outputs: Any) -> list[np.ndarray]:
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o.detach().numpy() if hasattr(o, "detach") else o) for o in outputs]
    return [np.asarray(outputs.detach().numpy() if hasattr(outputs, "detach") else outputs)]


def export(config: ExportConfig, on_event: EventSink | None = None,
           stop: threading.Event | None = None) -> ExportResult:
    """The encoder and one decoder as an ONNX (or TorchScript) file for other programs, with a
    JSON file beside it saying how to crop faces for it; then the export is run on faces
    (real ones with --faces) and compared with PyTorch."""
    import torch

    from faceforge.training.checkpoint import load_trained_model

    emit = on_event or ignore
    ensure_writable_dir(config.output.parent)
    model, state = load_trained_model(config.model_dir)
    model = plain_convolutions(model.float().eval())
    swap = _swap_module(model, config.side)
    size = model.input_size
    if config.faces is not None:
        inputs, checked_with = model_crops(config.faces, state, size), f"faces of {config.faces}"
    else:
        generator = np.random.default_rng(0)
        inputs = generator.random((4, 3, size, size), dtype=np.float32)
        checked_with = "random faces: pass --faces for real ones"
    with torch.no_grad():
        expected = _as_list(swap(torch.from_numpy(inputs)))
    names = ["face", "mask"][:len(expected)]
    example = torch.from_numpy(inputs[:1])
    with interruptible("tools model export", "no file was written"):
        if config.format == "onnx":
            actual = _export_onnx(swap, example, inputs, names, config, emit)
        else:
            actual = _export_torchscript(swap, example, inputs, config)
    if actual is None:
        error, checked_with = None, "onnxruntime is not installed (pip install onnxruntime)"
    else:
        error = max(float(np.abs(a - e).max()) for a, e in zip(actual, expected, strict=True))
    side_info = {
        "format": config.format, "trainer": state.trainer, "iterations": state.iterations,
        "side": config.side, "input": {"name": "faces", "shape": [None, 3, size, size],
                                       "range": [0.0, 1.0], "channels": "RGB"},
        "outputs": {name: [None, 1 if name == "mask" else 3, model.output_size,
                           model.output_size] for name in names},
        "crop": {"centering": state.train_config.get("centering", "face"),
                 "coverage_percent": float(state.train_config.get("coverage", 87.5)),
                 "how": "faceforge.core.geometry.aligned_matrix(legacy_matrix(landmarks_68), "
                        "size, centering, coverage / 100)"},
        "check": {"faces": int(len(inputs)), "max_abs_error": error, "with": checked_with},
    }
    atomic_write(Path(f"{config.output}.json"), json.dumps(side_info, indent=1))
    return ExportResult(config.output, config.format, config.side, size, model.output_size,
                        names, len(inputs), error, checked_with)


def _export_onnx(swap: Any, example: Any, inputs: np.ndarray, names: list[str],
                 config: ExportConfig, emit: EventSink) -> list[np.ndarray] | None:
    import torch

    if importlib.util.find_spec("onnx") is None:  # the exporter needs it
        raise UsageError("exporting to ONNX needs the onnx package",
                         "pip install 'faceforge[export]' (onnx and onnxruntime)")
    dynamic = {"faces": {0: "batch"}, **{name: {0: "batch"} for name in names}}
    with atomic_output(config.output) as temp, warnings.catch_warnings():
        # The TorchScript-based exporter: deprecated since torch 2.9 but still shipped, and
        # unlike the torch.export-based one it needs no onnxscript; these models are plain
        # convolution stacks, which it exports exactly (the check below measures that).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(swap, (example,), str(temp), input_names=["faces"],
                          output_names=names, dynamic_axes=dynamic,
                          opset_version=config.opset, dynamo=False)
    try:
        import onnxruntime
    except ImportError:
        emit(Note("onnxruntime is not installed: the export was not checked"))
        return None
    session = onnxruntime.InferenceSession(str(config.output),
                                           providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, {"faces": inputs})]


def _export_torchscript(swap: Any, example: Any, inputs: np.ndarray,
                        config: ExportConfig) -> list[np.ndarray]:
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is deprecated in favour of torch.export, but libtorch programs still
        # load it; tracing these plain convolution stacks is exact (checked below).
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(swap, example, check_trace=False)
        with atomic_output(config.output) as temp:
            torch.jit.save(traced, str(temp))
        loaded = torch.jit.load(str(config.output))
    with torch.no_grad():
        return _as_list(loaded(torch.from_numpy(inputs)))
