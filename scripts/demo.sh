#!/usr/bin/env bash
# `make demo`: the whole pipeline on built-in synthetic driving scenes, no download needed.
# Generates a KITTI-like set, trains a small GLPDepth (MiT-b0) for a few minutes on the CPU,
# evaluates it on held-out drives and writes depth visualisations.
set -euo pipefail
GLPDEPTH=${1:-build/glpdepth}
OUT=${DEMO_OUT:-demo-output}
EPOCHS=${DEMO_EPOCHS:-8}
FRAMES=${DEMO_FRAMES:-300}
THREADS=${DEMO_THREADS:-0}

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== 1/4 synthetic scenes: $FRAMES KITTI-like frames (quarter size) -> $OUT/data"
"$GLPDEPTH" synth --out "$OUT/data" --count "$FRAMES" --seed 1 --camera kitti --scale 0.25 \
  --val_fraction 0.1 --test_fraction 0.1

echo "== 2/4 training MiT-b0 GLPDepth for $EPOCHS epochs on the CPU -> $OUT/logs"
"$GLPDEPTH" train --dataset kitti --data_path "$OUT/data" --crop_h 94 --crop_w 256 \
  --encoder b0 --epochs "$EPOCHS" --batch_size 8 --lr 5e-4 --optimizer adamw --schedule cosine \
  --warmup_steps 20 --workers 2 --log_dir "$OUT/logs" --exp_name demo --log_every 10 \
  --threads "$THREADS" --seed 1
RUN="$OUT/logs/kitti/demo"

echo "== 3/4 evaluating on the held-out test drives -> $OUT/test"
"$GLPDEPTH" test --dataset kitti --data_path "$OUT/data" --ckpt "$RUN/best.ckpt" \
  --save_eval_pngs --save_visualize --result_dir "$OUT/test" --exp_name demo --threads "$THREADS"

echo "== 4/4 predicting depth for three test images -> $OUT/predict"
mapfile -t images < <(head -n 3 "$OUT/data/lists/test.txt" | awk -v root="$OUT/data" '{print root $1}')
"$GLPDEPTH" predict "${images[@]}" --ckpt "$RUN/best.ckpt" --output "$OUT/predict" --save_panel --save_png16 \
  --threads "$THREADS"

cat <<MSG

Demo finished. Outputs:
  synthetic data        $OUT/data            (KITTI layout, lists/, camera.json)
  training run          $RUN   (config.json, train.csv, metrics.csv, TensorBoard events, last/best.ckpt)
  evaluation            $OUT/test/demo       (metrics.json, per_image.csv, eval_pngs/, visualize/)
  predictions           $OUT/predict         (*_depth.png colour, *_depth16.png metric x256, *_panel.png)
MSG
