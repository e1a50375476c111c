#!/usr/bin/env bash
# How well and how fast the demo recipe learns (issue 29): for each variant and seed, generate the
# synthetic scenes, train with --recipe demo plus the variant's flags, and score the held-out
# drives beside the constant guess. Prints one Markdown row per run and a mean and range per
# variant (docs/PERFORMANCE.md, "Learning"). Run it on an idle machine: the times are part of it.
#
#   bench/learning.sh build/glpdepth [variant ...]     # default: every variant below
#   SEEDS="1 2 3" THREADS=2 OUT=/tmp/learning bench/learning.sh build/glpdepth demo
set -euo pipefail
GLPDEPTH=${1:-build/glpdepth}
shift || true
SEEDS=${SEEDS:-1 2 3}
THREADS=${THREADS:-2}
OUT=${OUT:-/tmp/glpdepth-learning}

# name | synthetic frames (80 % train) | train flags beyond --recipe demo
# (smoke: a seconds-long check of this script itself.)
declare -A FRAMES=([demo]=2000 [5-epochs]=2000 [12-epochs]=2000 [800-frames]=1000
                   [batch-8]=2000 [lr-5e-4]=2000 [lr-2e-3]=2000 [smoke]=60)
declare -A FLAGS=([demo]="" [5-epochs]="--epochs 5" [12-epochs]="--epochs 12"
                  [800-frames]="--epochs 16" [batch-8]="--batch_size 8 --epochs 16"
                  [lr-5e-4]="--lr 5e-4" [lr-2e-3]="--lr 2e-3" [smoke]="--epochs 1")
ORDER=(demo 5-epochs 12-epochs 800-frames batch-8 lr-5e-4 lr-2e-3)
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=("${ORDER[@]}")

field() { sed -n "s/.*\"$1\": *\([-0-9.e]*\).*/\1/p" "$2" | head -n 1; }

echo "| variant | seed | steps | train s | total s | AbsRel | RMSE | d1 | constant guess AbsRel / d1 |"
echo "|---|---|---|---|---|---|---|---|---|"
for variant in "${variants[@]}"; do
  [ -n "${FRAMES[$variant]+x}" ] || { echo "error: unknown variant $variant (${ORDER[*]})" >&2; exit 2; }
  sums=""
  for seed in $SEEDS; do
    dir="$OUT/$variant-$seed"
    rm -rf "$dir"
    start=$(date +%s.%N)
    "$GLPDEPTH" synth --output "$dir/data" --count "${FRAMES[$variant]}" --frames_per_drive 4 \
      --seed "$seed" --camera kitti --scale 0.25 --val_fraction 0.1 --test_fraction 0.1 > /dev/null
    train_start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$GLPDEPTH" train --recipe demo --dataset kitti --data_path "$dir/data" --workers 1 \
      --output "$dir/logs" --exp_name run --log_every 100 --threads "$THREADS" --seed "$seed" \
      ${FLAGS[$variant]} 2> "$dir/train.log"
    train_end=$(date +%s.%N)
    # The model at the schedule's end (best.ckpt would be the epoch-4 one of a 5-epoch variant).
    "$GLPDEPTH" test --dataset kitti --data_path "$dir/data" --ckpt "$dir/logs/kitti/run/last.ckpt" \
      --baseline --output "$dir/test" --exp_name run --threads "$THREADS" > "$dir/test.txt" 2>&1
    end=$(date +%s.%N)
    metrics="$dir/test/run/metrics.json"
    steps=$(tail -n 1 "$dir/logs/kitti/run/train.csv" | cut -d, -f1)
    row=$(python3 - "$metrics" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
v, g = m["metrics"], m["constant_guess"]
print(f'{v["abs_rel"]:.4f} {v["rmse"]:.3f} {v["d1"]:.4f} {g["abs_rel"]:.3f} {g["d1"]:.3f}')
PY
)
    read -r absrel rmse d1 gabs gd1 <<< "$row"
    train_s=$(echo "$train_end - $train_start" | bc)
    total_s=$(echo "$end - $start" | bc)
    printf '| %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s / %s |\n' "$variant" "$seed" "$steps" \
      "$train_s" "$total_s" "$absrel" "$rmse" "$d1" "$gabs" "$gd1"
    sums+="$absrel $rmse $d1 $total_s"$'\n'
  done
  echo "$sums" | awk -v v="$variant" 'NF == 4 { n++; a += $1; r += $2; d += $3; t += $4;
    if (n == 1 || $1 > amax) amax = $1; if (n == 1 || $3 < dmin) dmin = $3 }
    END { if (n) printf "| **%s, mean of %d** | | | | %.0f | **%.4f** (worst %.4f) | %.3f | **%.4f** (worst %.4f) | |\n",
          v, n, t / n, a / n, amax, r / n, d / n, dmin }'
done
