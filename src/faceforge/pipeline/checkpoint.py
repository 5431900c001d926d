"""Saving and loading a model folder's weights, optimizer and random state, crash-safely.

Files are iteration-numbered and written (fsynced) before `state.json` names them; files the
previous state named are deleted only after the new state is in place. The same routine writes
the main folder, `backups/` and `snapshots/<iteration>/`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from faceforge.errors import ModelError, OutputError
from faceforge.formats.model_state import ModelState, read_state, write_state
from faceforge.io.files import fsync_file


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
        save_file(weights, str(folder / files["weights"]), metadata={"trainer": state.trainer})
        fsync_file(folder / files["weights"])
        if optimizer is not None:
            tensors, meta = _optimizer_tensors(optimizer)
            tensors.update({f"rng.{k}": v.contiguous() for k, v in rng.items()})
            files["optimizer"] = f"optimizer-{tag}.safetensors"
            save_file(tensors, str(folder / files["optimizer"]), metadata=meta)
            fsync_file(folder / files["optimizer"])
        state.files = files
        write_state(folder, state)
    except OSError as exc:
        for name in files.values():
            if old is None or name not in old.files.values():
                (folder / name).unlink(missing_ok=True)
        raise OutputError(f"could not save the model in {folder}: {exc.strerror}",
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


def build_saved_model(folder: Path, state: ModelState):  # noqa: ANN201 - FaceSwapModel
    """Rebuild the model a folder's state describes and load its weights."""
    from faceforge.errors import UsageError
    from faceforge.plugins.model import build_model

    try:
        model = build_model(state.trainer, state.model_config)
    except (TypeError, ValueError, UsageError) as exc:
        raise ModelError(f"model folder {folder} has a `{state.trainer}` config this faceforge "
                         f"cannot build ({exc})", "upgrade faceforge") from None
    weights = load_weights(folder, state)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"weights in {folder} do not match the `{state.trainer}` config "
                         f"({first})", "restore the folder from backups/") from None
    return model


def load_trained_model(folder: Path):  # noqa: ANN201 - (FaceSwapModel, ModelState)
    """A trained model folder's model (weights loaded) and state, or one clear ModelError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} not found",
                         "pass the -m folder that `faceforge train` wrote")
    state = read_state(folder)
    if state is None:
        raise ModelError(f"{folder} holds no faceforge model (no state.json)",
                         "pass the -m folder that `faceforge train` wrote")
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
    dst.mkdir(parents=True, exist_ok=True)
    for name in state.files.values():
        tmp = dst / f".{name}.tmp-{os.getpid()}"
        with open(src / name, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 22):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst / name)
    old = read_state(dst) if (dst / "state.json").exists() else None
    write_state(dst, state)
    if old is not None:
        for name in old.files.values():
            if name not in state.files.values():
                (dst / name).unlink(missing_ok=True)
