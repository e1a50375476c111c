#!/usr/bin/env bash
# Cross-camera experiment (docs/CAMERAS.md): the same synthetic streets seen by a KITTI-like and
# a DrivingStereo-like camera; train MiT-b0 on one camera, test on both, with the metric model
# (the original) and with the camera-aware mode (--canonical_focal). Prints a markdown table.
#
#   bench/camera_experiment.sh [build/glpdepth] [output folder]
#
# Environment: FRAMES (per camera, default 300), EPOCHS (default 10), THREADS (0 = all cores),
# MODES (default "metric canonical"; also "canonical-zoom": camera-aware plus random zoom).
set -euo pipefail
GLPDEPTH=${1:-build/glpdepth}
OUT=${2:-camera-experiment}
FRAMES=${FRAMES:-300}
EPOCHS=${EPOCHS:-10}
THREADS=${THREADS:-0}
MODES=${MODES:-metric canonical}
# At quarter size the cameras' focal lengths are 180.7 px (KITTI) and 219.5 px (DrivingStereo).
# F at or below the smallest keeps the metric range of the head (80 m x fx / F) above 80 m.
CANONICAL_FOCAL=${CANONICAL_FOCAL:-180}

mkdir -p "$OUT/results"
declare -A DATASET=([kitti]=kitti [ds]=drivingstereo)
declare -A CAMERA=([kitti]=kitti [ds]=drivingstereo)
for cam in kitti ds; do
  if [[ ! -f "$OUT/data-$cam/lists/test.txt" ]]; then
    # Same seed: the same streets and the same held-out drives for both cameras.
    "$GLPDEPTH" synth --out "$OUT/data-$cam" --count "$FRAMES" --seed 7 --camera "${CAMERA[$cam]}" \
      --scale 0.25 --val_fraction 0.1 --test_fraction 0.15 --threads "$THREADS"
  fi
done

TABLE="$OUT/table.md"
{
  echo "| model | trained on | tested on | d1 | AbsRel | RMSE |"
  echo "|---|---|---|---|---|---|"
} > "$TABLE.tmp"
for mode in $MODES; do
  extra=()
  case "$mode" in
    metric) ;;
    canonical) extra=(--canonical_focal "$CANONICAL_FOCAL") ;;
    canonical-zoom) extra=(--canonical_focal "$CANONICAL_FOCAL" --scale_p 0.5 --scale_min 1 --scale_max 1.4) ;;
    metric-zoom) extra=(--scale_p 0.5 --scale_min 1 --scale_max 1.4) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  for train_cam in kitti ds; do
    run="$OUT/logs/${DATASET[$train_cam]}/$mode-$train_cam"
    if [[ ! -f "$run/best.ckpt" ]]; then
      rm -rf "$run"
      # Crops fit both quarter-size frames (311x94 and 220x100).
      "$GLPDEPTH" train --dataset "${DATASET[$train_cam]}" --data_path "$OUT/data-$train_cam" \
        --crop_h 88 --crop_w 192 --encoder b0 --epochs "$EPOCHS" --batch_size 8 \
        --lr 5e-4 --optimizer adamw --schedule cosine --warmup_steps 20 --workers 2 \
        --log_dir "$OUT/logs" --exp_name "$mode-$train_cam" --log_every 50 --threads "$THREADS" \
        --seed 1 "${extra[@]}"
    fi
    for test_cam in kitti ds; do
      result="$OUT/results/$mode-$train_cam-on-$test_cam"
      "$GLPDEPTH" test --dataset "${DATASET[$test_cam]}" --data_path "$OUT/data-$test_cam" \
        --ckpt "$run/best.ckpt" --result_dir "$OUT/results" --exp_name "$mode-$train_cam-on-$test_cam" \
        --threads "$THREADS" > "$result.log" 2>&1
      /usr/bin/env python3 - "$result/metrics.json" "$mode" "$train_cam" "$test_cam" >> "$TABLE.tmp" <<'PY'
import json, sys
path, mode, train_cam, test_cam = sys.argv[1:]
m = json.load(open(path))
m = m.get("metrics", m)
names = {"kitti": "KITTI-like", "ds": "DrivingStereo-like"}
print(f"| {mode} | {names[train_cam]} | {names[test_cam]} | {m['d1']:.3f} | {m['abs_rel']:.3f} | {m['rmse']:.2f} |")
PY
    done
  done
done
mv "$TABLE.tmp" "$TABLE"
cat "$TABLE"
