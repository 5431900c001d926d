"""The layers of docs/ARCHITECTURE.md: importing a package loads nothing it must not import.

Each check imports every module of one package in a fresh interpreter and lists what got
loaded, so an import added anywhere in the package, at any depth, is caught.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_IMPORT_ALL = (
    "import importlib, pkgutil, sys; import {package} as root; "
    "[importlib.import_module(m.name) for m in "
    "pkgutil.walk_packages(root.__path__, root.__name__ + '.')]; "
    "print(' '.join(sys.modules))"
)

# package -> (third-party modules it must not load, faceforge packages it must not load)
RULES = {
    "faceforge.core": ({"torch", "av", "dlib", "gradio", "ai_edge_litert"},
                       {"io", "formats", "nn", "plugins", "training", "pipeline", "cli",
                        "options"}),
    "faceforge.io": ({"torch", "dlib", "gradio", "ai_edge_litert"},
                     {"formats", "nn", "plugins", "training", "pipeline", "cli", "options"}),
    "faceforge.formats": ({"torch", "dlib", "gradio", "ai_edge_litert"},
                          {"nn", "plugins", "training", "pipeline", "cli", "options"}),
    "faceforge.nn": ({"dlib", "gradio", "ai_edge_litert"},
                     {"plugins", "training", "pipeline", "cli", "options"}),
    "faceforge.plugins": ({"gradio"}, {"training", "pipeline", "cli", "options"}),
    "faceforge.training": ({"gradio"}, {"cli"}),
    "faceforge.pipeline": ({"gradio"}, {"cli", "tools"}),
    "faceforge.tools": ({"gradio"}, {"cli", "jobs"}),
    "faceforge.options": ({"numpy", "torch", "cv2", "dlib", "av", "gradio"},
                          {"io", "formats", "nn", "plugins", "training", "pipeline", "cli"}),
}


def _loaded_by(package: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL.format(package=package)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_the_layers_below_it(package):
    libraries, layers = RULES[package]
    loaded = _loaded_by(package)
    assert package in loaded
    assert not libraries & loaded, f"{package} loads {sorted(libraries & loaded)}"
    wrong = sorted(name for name in loaded if name.startswith("faceforge.")
                   and name.split(".")[1] in layers)
    assert not wrong, f"{package} loads {wrong}"


def test_training_takes_from_pipeline_only_what_convert_and_train_share():
    """Training may not import the extract or convert jobs (convert imports training)."""
    loaded = _loaded_by("faceforge.training")
    assert not {"faceforge.pipeline.extract", "faceforge.pipeline.convert"} & loaded


def test_convert_imports_only_checkpoint_and_precision_from_training():
    proc = subprocess.run([sys.executable, "-c", "import sys, faceforge.pipeline.convert; "
                           "print(' '.join(sys.modules))"], capture_output=True, text=True,
                          check=True)
    from_training = {name for name in proc.stdout.split()
                     if name.startswith("faceforge.training.")}
    assert from_training <= {"faceforge.training.checkpoint", "faceforge.training.precision"}
