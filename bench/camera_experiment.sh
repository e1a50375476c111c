#!/usr/bin/env bash
# Cross-camera experiment (docs/CAMERAS.md): the same synthetic streets seen by a KITTI-like and
# a DrivingStereo-like camera; train MiT-b0 on one camera, test on both, with the metric model
# (the original) and with the camera-aware mode (--canonical_focal). Prints a markdown table.
#
#   bench/camera_experiment.sh [build/glpdepth] [output folder]
#
# Environment: FRAMES (per camera, default 400), EPOCHS (default 20), THREADS (0 = all cores),
# MODES (default "metric-zoom canonical-zoom": both with random zoom, without and with the
# camera-aware mode; also "metric" and "canonical": no zoom). Finished trainings are reused.
# DrivingStereo-like test frames (220x100) are evaluated in a bottom 96x192 window: whole, they
# would be padded to 128 rows, 28 of them replicated, which no training crop ever showed.
set -euo pipefail
GLPDEPTH=${1:-build/glpdepth}
OUT=${2:-camera-experiment}
FRAMES=${FRAMES:-400}
EPOCHS=${EPOCHS:-20}
THREADS=${THREADS:-0}
MODES=${MODES:-metric-zoom canonical-zoom}
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
  echo "| model | trained on | tested on | d1 | AbsRel | RMSE | scale error |"
  echo "|---|---|---|---|---|---|---|"
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
      window=()
      [[ $test_cam == ds ]] && window=(--window on --window_h 96 --window_w 192)
      "$GLPDEPTH" test --dataset "${DATASET[$test_cam]}" --data_path "$OUT/data-$test_cam" \
        --ckpt "$run/best.ckpt" --result_dir "$OUT/results" --exp_name "$mode-$train_cam-on-$test_cam" \
        --threads "$THREADS" "${window[@]}" > "$result.log" 2>&1
      /usr/bin/env python3 - "$result" "$mode" "$train_cam" "$test_cam" >> "$TABLE.tmp" <<'PY'
import csv, json, math, os, sys
result, mode, train_cam, test_cam = sys.argv[1:]
m = json.load(open(os.path.join(result, "metrics.json")))["metrics"]
# Per image |mean log(pred/gt)| = sqrt(RMSElog^2 - (SILog(KITTI)/100)^2): the scale part.
rows = list(csv.DictReader(open(os.path.join(result, "per_image.csv"))))
scale = sum(math.sqrt(max(float(r["rmse_log"]) ** 2 - (float(r["silog_kitti"]) / 100) ** 2, 0.0))
            for r in rows) / len(rows)
names = {"kitti": "KITTI-like", "ds": "DrivingStereo-like"}
print(f"| {mode} | {names[train_cam]} | {names[test_cam]} | {m['d1']:.3f} | {m['abs_rel']:.3f} | {m['rmse']:.2f} | {scale:.3f} |")
PY
    done
  done
done
mv "$TABLE.tmp" "$TABLE"
cat "$TABLE"
