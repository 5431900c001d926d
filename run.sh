#!/usr/bin/env bash
# Sets faceforge up on first use (or when its requirements changed) and starts the web GUI on
# ./workspace (or $FACEFORGE_WORKSPACE). Extra options go to `faceforge gui`, e.g. --port 8000.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/faceforge ] || ! cat pyproject.toml setup.sh | sha256sum \
    | cmp -s - .venv/.faceforge-setup; then
  ./setup.sh
fi
exec .venv/bin/faceforge gui --workspace "${FACEFORGE_WORKSPACE:-workspace}" "$@"
