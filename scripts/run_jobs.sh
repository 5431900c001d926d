#!/usr/bin/env bash
# Runs the README's jobs on shared clips with the faceforge source tree SRC, into OUT, so that
# two versions' outputs can be compared with scripts/compare_outputs.py.
#   scripts/run_jobs.sh SRC OUT [MODEL [extra convert options...]]
# Extract: lp_d18, lp_d19 (defaults), openmpf_video_01 (blazeface-full, identity), the
# knn_examples/test photos. Train: `quick` for 40 iterations, seed 7 (unless MODEL is given).
# Convert lp_d18 with MODEL: lossless PNG frames (conv_png) and the default video (conv_mp4).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "$1" && pwd); OUT=$2; MODEL=${3:-}
shift $(( $# < 3 ? $# : 3 ))
DATA=$HERE/../shared/data
run() { env PYTHONPATH="$SRC/src" "$HERE/.venv/bin/python" -m faceforge.cli "$@" -L WARNING; }
mkdir -p "$OUT"
for clip in lp_d18 lp_d19; do
  run extract -i "$DATA/video/$clip.mp4" -o "$OUT/faces_$clip" -p "$OUT/$clip.db"
done
run extract -i "$DATA/video/openmpf_video_01.mp4" -o "$OUT/faces_openmpf" -p "$OUT/openmpf.db" \
  -D blazeface-full -I
run extract -i "$DATA/photos/knn_examples/test" -o "$OUT/faces_photos" -p "$OUT/photos.db"
if [ -z "$MODEL" ]; then
  MODEL=$OUT/model_q
  run train -A "$OUT/faces_lp_d18" -B "$OUT/faces_lp_d19" -m "$MODEL" -t quick -bs 8 -it 40 \
    -s 20 --seed 7 -w
fi
run convert -i "$DATA/video/lp_d18.mp4" -o "$OUT/conv_png" -p "$OUT/lp_d18.db" -m "$MODEL" \
  -w opencv "$@"
run convert -i "$DATA/video/lp_d18.mp4" -o "$OUT/conv_mp4" -p "$OUT/lp_d18.db" -m "$MODEL" "$@"
