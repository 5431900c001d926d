"""Saving and loading a model folder's weights, optimizer and random state, crash-safely.

Files are iteration-numbered and written (fsynced) before `state.json` names them; files the
previous state named are deleted only after the new state is in place. The same routine writes
the main folder, `backups/` and `snapshots/<iteration>/`. All writing goes through io/files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from faceforge import __version__
from faceforge.errors import ModelError, OutputError, UsageError
from faceforge.formats.model_state import ModelState, read_state, write_state
from faceforge.io.files import atomic_copy, atomic_output, output_error
from faceforge.plugins.model import MODELS, FaceSwapModel, build_model

log = logging.getLogger(__name__)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{index}.{key}"] = tensor.detach().cpu().contiguous()
    meta = {"param_groups": json.dumps(state["param_groups"])}
    return tensors, meta


def _restore_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> dict[str, torch.Tensor]:
    """Load the optimizer state from its file; returns every tensor the file holds."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    groups = json.loads(metadata["param_groups"])
    state: dict[int, dict] = {}
    for key, tensor in tensors.items():
        if not key.startswith("state."):
            continue
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return tensors


def save_checkpoint(
    folder: Path,
    state: ModelState,
    weights: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer | None,
    rng: dict[str, torch.Tensor],
) -> None:
    """Write weights (+ optimizer and RNG state) for `state.iterations`, then the state file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = read_state(folder) if (folder / "state.json").exists() else None
    tag = f"{state.iterations:09d}"
    files = {"weights": f"weights-{tag}.safetensors"}
    try:
        with atomic_output(folder / files["weights"]) as temp:
            save_file(weights, str(temp), metadata={"trainer": state.trainer})
        if optimizer is not None:
            tensors, meta = _optimizer_tensors(optimizer)
            tensors.update({f"rng.{k}": v.contiguous() for k, v in rng.items()})
            files["optimizer"] = f"optimizer-{tag}.safetensors"
            with atomic_output(folder / files["optimizer"]) as temp:
                save_file(tensors, str(temp), metadata=meta)
        state.files = files
        write_state(folder, state)
    except (OSError, OutputError) as exc:
        for name in files.values():
            if old is None or name not in old.files.values():
                (folder / name).unlink(missing_ok=True)
        reason = exc.message if isinstance(exc, OutputError) else output_error(
            "writing", Path(exc.filename or folder / "state.json"), exc).message
        raise OutputError(f"could not save the model in {folder}: {reason}",
                          "free some disk space; the previous save is intact") from None
    if old is not None:
        for name in old.files.values():
            if name not in files.values():
                (folder / name).unlink(missing_ok=True)
    _remove_strays(folder, set(files.values()))


def _remove_strays(folder: Path, keep: set[str]) -> None:
    """Delete weight files a killed save left behind that no state names."""
    for path in folder.glob("*.safetensors"):
        if path.name not in keep and path.name.split("-")[0] in ("weights", "optimizer"):
            path.unlink(missing_ok=True)


def load_weights(folder: Path, state: ModelState) -> dict[str, torch.Tensor]:
    path = Path(folder) / state.files.get("weights", "")
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"model weights {path} are missing or corrupt ({exc})",
                         "restore the model folder from its backups/ folder") from None


def _saved_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header, without reading the tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (OSError, SafetensorError, ValueError) as exc:
        raise ModelError(f"model weights {path} are missing or corrupt ({exc})",
                         "restore the model folder from its backups/ folder") from None


def build_saved_model(folder: Path, state: ModelState) -> FaceSwapModel:
    """Rebuild the model a folder's state describes and load its weights.

    The model is first built without memory (on torch's "meta" device) and its tensor
    shapes compared with the weights file's header, so a damaged or forged state cannot make
    it allocate more than the weights it names.
    """
    try:
        with torch.device("meta"):
            skeleton = build_model(state.trainer, state.model_config)
    except UsageError as exc:
        raise ModelError(f"model folder {folder} has a damaged `{state.trainer}` config "
                         f"({exc.message})", "restore it from the folder's backups/") from None
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model folder {folder} has a `{state.trainer}` config this faceforge "
                         f"cannot build ({exc})", "upgrade faceforge") from None
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    saved = _saved_shapes(Path(folder) / state.files.get("weights", ""))
    if saved != expected:
        different = sorted(set(saved) ^ set(expected)) or sorted(
            key for key in expected if saved[key] != expected[key])
        raise ModelError(f"weights in {folder} do not match the `{state.trainer}` config "
                         f"(first difference: {different[0]})",
                         "restore the folder from backups/") from None
    model = build_model(state.trainer, state.model_config)
    weights = load_weights(folder, state)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"weights in {folder} do not match the `{state.trainer}` config "
                         f"({first})", "restore the folder from backups/") from None
    return model


def model_folder_state(folder: Path) -> ModelState:
    """The state of a model folder `faceforge train` wrote, or one clear ModelError."""
    if not Path(folder).is_dir():
        raise ModelError(f"model folder {folder} not found",
                         "pass the -m folder that `faceforge train` wrote")
    state = read_state(folder)
    if state is None:
        raise ModelError(f"{folder} holds no faceforge model (no state.json)",
                         "pass the -m folder that `faceforge train` wrote")
    return state


def load_trained_model(folder: Path) -> tuple[FaceSwapModel, ModelState]:
    """A trained model folder's model (weights loaded) and state, or one clear ModelError."""
    folder = Path(folder)
    state = model_folder_state(folder)
    if state.iterations == 0 or not state.files.get("weights"):
        raise ModelError(f"model in {folder} has not been saved after training yet",
                         "train it for at least one save interval")
    return build_saved_model(folder, state), state


def load_optimizer(folder: Path, state: ModelState,
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Restore the optimizer; returns the saved RNG tensors (empty if none were saved)."""
    name = state.files.get("optimizer")
    if not name:
        return {}
    path = Path(folder) / name
    try:
        tensors = _restore_optimizer(optimizer, path)
    except (OSError, SafetensorError, KeyError, ValueError) as exc:
        raise ModelError(f"optimizer state {path} is missing or corrupt ({exc})",
                         "restore the model folder from its backups/ folder") from None
    return {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}


def copy_checkpoint(src: Path, dst: Path) -> None:
    """Copy a saved checkpoint (state + the files it names) into another folder, safely."""
    state = read_state(src)
    if state is None:
        return
    old = read_state(dst) if (dst / "state.json").exists() else None
    kept = set(old.files.values()) if old is not None else set()
    copied: list[str] = []
    target = dst / "state.json"
    try:
        dst.mkdir(parents=True, exist_ok=True)
        for name in state.files.values():
            target = dst / name
            atomic_copy(src / name, target)
            copied.append(name)
        target = dst / "state.json"
        write_state(dst, state)
    except (OSError, OutputError) as exc:
        # A full disk must not leave big files behind that no state names.
        for name in copied:
            if name not in kept:
                (dst / name).unlink(missing_ok=True)
        reason = exc.message if isinstance(exc, OutputError) else output_error(
            "writing", target, exc).message
        raise OutputError(f"could not copy the model from {src} into {dst}: {reason}",
                          "free some disk space; the earlier copy there is intact") from None
    if old is not None:
        for name in old.files.values():
            if name not in state.files.values():
                (dst / name).unlink(missing_ok=True)


def build_or_resume(model_dir: Path, trainer: str, learning_rate: float | None,
                    train_config: dict) -> tuple[FaceSwapModel, ModelState]:
    """The model to train: the one saved in `model_dir` (weights loaded), or a new `trainer`.

    Built once, on the CPU; the caller moves it to its device.
    """
    state = read_state(model_dir)
    if state is None:
        config = MODELS.get(trainer).config_class()
        if learning_rate is not None:
            config = dataclasses.replace(config, learning_rate=learning_rate)
        model = build_model(trainer, config)
        state = ModelState(trainer=trainer, model_config=model.config.to_dict(),
                           train_config=train_config, tool_version=__version__)
        return model, state
    if state.trainer != trainer:
        raise ModelError(
            f"model folder {model_dir} holds a `{state.trainer}` model, not `{trainer}`",
            f"pass -t {state.trainer} to resume it, or a new -m folder")
    saved_lr = state.model_config.get("learning_rate")
    if learning_rate is not None and learning_rate != saved_lr:
        log.info("learning rate changed from %s to %s", saved_lr, learning_rate)
        state.model_config["learning_rate"] = learning_rate
    model = build_saved_model(model_dir, state)
    log.info("resuming %s at iteration %d", state.trainer, state.iterations)
    return model, state
