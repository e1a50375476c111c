#!/usr/bin/env bash
# `glpdepth predict` on a folder of frames against the model alone (`glpdepth bench`, same size,
# weights, backend and precision), in turn for a few rounds: how much of the model's own speed
# the whole command keeps while it decodes and writes (docs/PERFORMANCE.md). Both run with the
# same performance hint (predict's default, throughput: OpenVINO runs several frames at once, and
# bench then times that many calls at once and reports images/s).
#   bench/predict_throughput.sh [--frames N] [--rounds N] [--encoder b0|b4] [--precision fp32|bf16]
#                               [--backend auto|libtorch|openvino] [--hint throughput|latency]
#                               [GLPDEPTH]
set -euo pipefail
FRAMES=24
ROUNDS=2
ENCODER=b0
PRECISION=fp32
BACKEND=auto
HINT=throughput
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) FRAMES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --encoder) ENCODER=$2; shift 2 ;;
    --precision) PRECISION=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --hint) HINT=$2; shift 2 ;;
    *) break ;;
  esac
done
GLPDEPTH=${1:-build/glpdepth}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# 1216x352 frames (the KITTI kb-crop size): KITTI's camera, cropped to that size.
"$GLPDEPTH" synth --output "$WORK/data" --count "$FRAMES" --camera 721.5377,721.5377,596.5593,149.854,1216,352 \
  --layout kitti --seed 3 --val_fraction 0 --test_fraction 0 > /dev/null
mkdir -p "$WORK/frames"
find "$WORK/data/raw_data" -path '*image_02/data/*' -name '*.png' | sort | head -n "$FRAMES" |
  while read -r f; do cp "$f" "$WORK/frames/$(basename "$(dirname "$(dirname "$(dirname "$f")")")")_$(basename "$f")"; done
"$GLPDEPTH" export --random_weights --encoder "$ENCODER" --format pytorch --output "$WORK/w.pth" > /dev/null 2>&1
flags=(--ckpt "$WORK/w.pth" --backend "$BACKEND" --precision "$PRECISION" --performance_hint "$HINT")
echo "predict throughput: MiT-$ENCODER, $FRAMES frames of 1216x352, backend $BACKEND, $PRECISION, hint $HINT, $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
for ((round = 1; round <= ROUNDS; round++)); do
  model=$("$GLPDEPTH" bench "${flags[@]}" --height 352 --width 1216 --iters 10 --warmup 2 --json "$WORK/bench.json" > /dev/null 2>&1 &&
          /usr/bin/python3 -c "import json; print(1 / json.load(open('$WORK/bench.json'))['images_per_s'])")
  rm -rf "$WORK/out"
  start=$(date +%s.%N)
  line=$("$GLPDEPTH" predict "$WORK/frames" "${flags[@]}" --output "$WORK/out" 2> /dev/null | head -n 1)
  end=$(date +%s.%N)
  /usr/bin/python3 - "$model" "$start" "$end" "$FRAMES" "$line" <<'PY'
import sys
model, start, end, frames, line = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
whole = (end - start) / frames
print(f"  model alone {1 / model:6.2f} images/s ({model * 1e3:.1f} ms per image)   predict {1 / whole:6.2f} images/s "
      f"({whole * 1e3:.1f} ms per image, start-up included)   ratio {model / whole:.3f}   [{line}]")
PY
done
