#!/usr/bin/env bash
# `make demo`: the whole pipeline on built-in synthetic driving scenes, no download needed.
# Generates a KITTI-like set (1,600 training frames of 400 streets, 200 validation and 200 test
# frames of other streets), trains MiT-b0 GLPDepth from scratch with the demo recipe (about 5
# minutes on 2 cores), evaluates it on the held-out drives against the constant guess and
# writes depth panels for three of their frames, and, where the build has video, a depth video of
# a new drive. Figures: docs/PERFORMANCE.md, "Learning".
set -euo pipefail
GLPDEPTH=${1:-build/glpdepth}
OUT=${DEMO_OUT:-demo-output}
SEED=${DEMO_SEED:-1}          # seeds the scenes and the training
FRAMES=${DEMO_FRAMES:-2000}   # 80 % train, 10 % validation, 10 % test; 4 frames per street
EPOCHS=${DEMO_EPOCHS:-8}      # the recipe's
THREADS=${DEMO_THREADS:-0}    # 0: every core

rm -rf "$OUT"
mkdir -p "$OUT"
start=$(date +%s)
echo "== 1/5 synthetic driving scenes: $FRAMES KITTI-like frames (quarter size) -> $OUT/data"
"$GLPDEPTH" synth --output "$OUT/data" --count "$FRAMES" --frames_per_drive 4 --seed "$SEED" \
  --camera kitti --scale 0.25 --val_fraction 0.1 --test_fraction 0.1

echo "== 2/5 training MiT-b0 GLPDepth from scratch (--recipe demo, $EPOCHS epochs) -> $OUT/logs"
"$GLPDEPTH" train --recipe demo --dataset kitti --data_path "$OUT/data" --epochs "$EPOCHS" \
  --workers 1 --output "$OUT/logs" --exp_name demo --log_every 100 --threads "$THREADS" \
  --seed "$SEED"
RUN="$OUT/logs/kitti/demo"

echo "== 3/5 evaluating on the held-out drives, beside the constant guess -> $OUT/test"
"$GLPDEPTH" test --dataset kitti --data_path "$OUT/data" --ckpt "$RUN/best.ckpt" --baseline \
  --save_eval_pngs --save_visualize --output "$OUT/test" --exp_name demo --threads "$THREADS" \
  | tee "$OUT/test.txt"

echo "== 4/5 depth panels for three held-out frames -> $OUT/predict"
n=$(wc -l < "$OUT/data/lists/test.txt")  # three frames from three streets, spread over the list
mapfile -t images < <(awk -v root="$OUT/data" -v n="$n" \
  'NR == 1 || NR == 1 + int(n / 3) || NR == 1 + int(2 * n / 3) {print root $1}' "$OUT/data/lists/test.txt")
"$GLPDEPTH" predict "${images[@]}" --ckpt "$RUN/best.ckpt" --output "$OUT/predict" --save_panel \
  --save_png16 --threads "$THREADS"

video_line=
if "$GLPDEPTH" info --threads 1 | grep -q '^video: yes'; then
  echo "== 5/5 a depth video of a new drive: 40 frames, 4 s at KITTI's 10 fps -> $OUT/video"
  "$GLPDEPTH" synth --output "$OUT/drive" --count 40 --frames_per_drive 40 --seed $((SEED + 1000)) \
    --camera kitti --scale 0.25 --val_fraction 0 --test_fraction 0 > /dev/null
  drive=$(dirname "$(find "$OUT/drive/raw_data" -path '*image_02/data/*' -name '*.png' | sort | head -n 1)")
  "$GLPDEPTH" predict "$drive" --ckpt "$RUN/best.ckpt" --output "$OUT/video" --save_video \
    --video_layout side-by-side --threads "$THREADS" > /dev/null
  video_line=$'\n'"  depth video      $OUT/video         (depth.mp4 image | depth | colour bar, 10 fps)"
else
  echo "== 5/5 skipped: this build has no video (FFmpeg)"
fi

seconds=$(( $(date +%s) - start ))
# "constant guess 11.91 m: abs_rel 0.6736 rmse 11.21 d1 0.2375; this model: abs_rel 0.1448 ..."
read -r guess_depth guess_absrel guess_d1 absrel d1 < <(awk '/^constant guess/ {
  gsub(";", ""); print $3, $6, $10, $14, $18 }' "$OUT/test.txt")
cat <<MSG

Demo finished in $((seconds / 60)) min $((seconds % 60)) s. Outputs:
  synthetic data   $OUT/data          (KITTI layout, lists/, camera.json)
  training run     $RUN   (config.json, train.csv, metrics.csv, TensorBoard events, last.ckpt, best.ckpt)
  evaluation       $OUT/test/demo     (metrics.json, per_image.csv, eval_pngs/, visualize/)
  predictions      $OUT/predict       (*_depth.png colour, *_depth16.png metres x256, *_panel.png)${video_line}

What it learned: on $n frames of streets it never saw, the trained MiT-b0 has AbsRel $absrel
and d1 $d1, where the constant guess ($guess_depth m everywhere, the median training depth) has AbsRel
$guess_absrel and d1 $guess_d1.
MSG
