"""Model weights that no pip package ships (S3FD, FAN): where they are looked for, how they are
fetched and checked, and how each published file layout loads into our modules.

The files, their URLs and pinned SHA-256 sums are listed in data/weights.json. They are looked
for in the folder given with --weights-dir, then $FACEFORGE_WEIGHTS_DIR, then the user cache
(`faceforge.io.files.user_cache_dir()/weights`); when absent, the first published file is
downloaded into the cache on first use (`faceforge models fetch` does it ahead of time).
Files are read with torch's weights-only loader, which builds tensors and nothing else.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceforge.errors import FormatError, InputError
from faceforge.io.download import (
    OFFLINE_VARIABLE,
    DownloadError,
    download,
    offline,
    sha256_of,
)
from faceforge.io.files import user_cache_dir

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CATALOGUE_FILE = Path(__file__).parent / "data" / "weights.json"
WEIGHTS_DIR_VARIABLE = "FACEFORGE_WEIGHTS_DIR"
LAYOUTS = ("face-alignment", "faceswap")


class WeightsMissing(InputError):
    """A plugin's weights are not on this machine and could not be fetched."""


@dataclass(frozen=True)
class WeightsFile:
    """One published file of a model's weights."""

    name: str
    layout: str
    url: str
    sha256: str | None
    size: int | None = None
    note: str = ""


@dataclass(frozen=True)
class ModelWeights:
    """A model and the files its weights are published as, the fetched one first."""

    model: str
    title: str
    files: tuple[WeightsFile, ...]

    @property
    def fetched(self) -> WeightsFile:
        return self.files[0]


def catalogue(path: Path | None = None) -> dict[str, ModelWeights]:
    """The models of data/weights.json (or `path`), by name."""
    source = CATALOGUE_FILE if path is None else path
    try:
        document = json.loads(Path(source).read_text(encoding="utf-8"))
        if document.get("version") != 1:
            raise ValueError(f"version {document.get('version')!r}")
        models = {}
        for model, entry in document["models"].items():
            files = tuple(WeightsFile(**item) for item in entry["files"])
            if not files or any(f.layout not in LAYOUTS for f in files):
                raise ValueError(f"model {model!r} lists no file or an unknown layout")
            models[model] = ModelWeights(model, entry["title"], files)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"the weights catalogue {source} is damaged ({exc})",
                          "reinstall faceforge") from None
    return models


def model_weights(model: str) -> ModelWeights:
    models = catalogue()
    if model not in models:
        raise InputError(f"no downloadable weights are known for {model!r}",
                         f"choose one of: {', '.join(sorted(models))}")
    return models[model]


def cache_dir() -> Path:
    """Where fetched weights are kept: <user cache>/weights."""
    return user_cache_dir() / "weights"


def search_dirs(weights_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders looked in, in order: `weights_dir`, $FACEFORGE_WEIGHTS_DIR, the cache."""
    folders = []
    if weights_dir:
        folders.append(Path(weights_dir).expanduser())
    if os.environ.get(WEIGHTS_DIR_VARIABLE):
        folders.append(Path(os.environ[WEIGHTS_DIR_VARIABLE]).expanduser())
    folders.append(cache_dir())
    return list(dict.fromkeys(folders))


def check_file(path: Path, file: WeightsFile) -> None:
    """Refuse a file whose SHA-256 is not the published one (when one is published)."""
    if file.sha256 is None:
        log.info("%s: Faceswap publishes no checksum for it, so it is loaded unchecked "
                 "(with torch's weights-only loader, which builds nothing but tensors)", path)
        return
    found = sha256_of(path)
    if found != file.sha256:
        raise FormatError(
            f"{path} is not the published {file.name} (SHA-256 {found[:16]}..., expected "
            f"{file.sha256[:16]}...)", f"delete it and fetch it again from {file.url}")


def _candidates(folder: Path, file: WeightsFile) -> list[Path]:
    """Where `file` may lie in `folder`: under its own name, or still in the release zip it
    is published in (Faceswap's)."""
    names = [folder / file.name]
    if file.url.endswith(".zip"):
        names.append(folder / file.url.rsplit("/", 1)[-1])
    return names


def find_weights(model: str, weights_dir: str | os.PathLike[str] | None = None
                 ) -> tuple[Path, WeightsFile] | None:
    """The first known file of `model` in the search folders, checked; None if none is there."""
    entry = model_weights(model)
    for folder in search_dirs(weights_dir):
        for file in entry.files:
            for path in _candidates(folder, file):
                if path.is_file():
                    check_file(path, file)
                    return path, file
    return None


def fetch_weights(
    model: str,
    weights_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download `model`'s published file into `weights_dir` (default: the cache), unless a
    checked copy is already there; returns its path. Raises DownloadError."""
    file = model_weights(model).fetched
    dest = Path(weights_dir).expanduser() if weights_dir else cache_dir()
    path = dest / file.name
    if path.is_file():
        check_file(path, file)
        return path
    if offline():
        raise DownloadError(f"not downloading {file.url}: {OFFLINE_VARIABLE} is set",
                            f"put the file at {path} by hand")
    log.info("downloading %s from %s", file.name, file.url)
    return download(file.url, path, file.sha256, progress=progress)


def missing_error(model: str, weights_dir: str | os.PathLike[str] | None,
                  reason: str | None = None) -> WeightsMissing:
    """The one-line error for weights that are neither here nor fetchable: which files, from
    where, and where to put them."""
    entry = model_weights(model)
    files = " or ".join(
        f"{f.name} ({f.url}{', ' + f.note if f.note else ''})" for f in entry.files)
    folders = ", ".join(str(folder) for folder in search_dirs(weights_dir))
    why = f" ({reason})" if reason else ""
    return WeightsMissing(
        f"the {entry.title} weights are not on this machine{why}",
        f"put {files} in one of: {folders} (--weights-dir or ${WEIGHTS_DIR_VARIABLE} name "
        f"a folder of your own); `faceforge models fetch {model}` downloads it where there is "
        "internet")


def locate_weights(model: str, weights_dir: str | os.PathLike[str] | None = None,
                   fetch: bool = True) -> tuple[Path, WeightsFile]:
    """The weights file of `model`: found in the search folders, else fetched into the
    cache (when `fetch`), else WeightsMissing naming the files, their URLs and the folders."""
    found = find_weights(model, weights_dir)
    if found is not None:
        return found
    if not fetch:
        raise missing_error(model, weights_dir)
    try:
        path = fetch_weights(model)
    except DownloadError as exc:
        raise missing_error(model, weights_dir, exc.message) from None
    return path, model_weights(model).fetched


def load_state_dict(
    path: Path, layout: str, rename: Callable[[str, str], str] | None = None
) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, renamed to our module's names.

    Read with ``torch.load(weights_only=True)``: only tensors and plain containers are built.
    A ``{"state_dict": ...}`` wrapper and DataParallel's ``module.`` prefixes are undone;
    `rename(layout, key)` maps the remaining names of `layout` to ours.
    """
    import pickle

    import torch

    source: Any = path
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            inner = [m for m in members if m.endswith(".pth") and not m.endswith("/")]
            if inner and not any(m.endswith("data.pkl") for m in members):
                # A release zip around the .pth file (Faceswap publishes its weights so).
                source = io.BytesIO(archive.read(inner[0]))
    try:
        loaded: Any = torch.load(source, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError,
            AttributeError, TypeError) as exc:
        raise FormatError(f"{path} is not a weights file faceforge can read "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:100]})",
                          "delete it and fetch it again") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        raise FormatError(f"{path} does not hold a table of tensors", "delete it and fetch it "
                          "again")
    tensors = {}
    for key, value in loaded.items():
        key = key.removeprefix("module.")
        tensors[rename(layout, key) if rename else key] = value
    return tensors


def load_into(module: torch.nn.Module, path: Path, layout: str, title: str,
              rename: Callable[[str, str], str] | None = None) -> None:
    """Load a weights file into `module`, which must take every tensor and miss none."""
    tensors = load_state_dict(path, layout, rename)
    expected = module.state_dict()
    for key, value in expected.items():
        # Files saved before PyTorch 0.4.1 have no batch-norm step counters; inference
        # never reads them.
        if key.endswith("num_batches_tracked") and key not in tensors:
            tensors[key] = value.clone()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors)
                   if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing[:3])}" if missing else "",
            f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
            f"wrong shape {', '.join(wrong[:3])}" if wrong else "") if part)
        raise FormatError(f"{path} does not hold {title} weights in the {layout} layout "
                          f"({detail})", "delete it and fetch it again")
    module.load_state_dict(tensors, strict=True)
