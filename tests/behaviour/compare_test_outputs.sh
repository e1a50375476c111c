#!/usr/bin/env bash
# Behaviour unchanged (issue 25): `glpdepth test` of two builds on the same data and weights must
# write byte-identical per_image.csv and the same metrics.json apart from timing and provenance
# fields. Run it for a refactoring against the build of its parent commit:
#
#   git worktree add /tmp/parent HEAD~1 && cmake -S /tmp/parent -B /tmp/parent/build -G Ninja \
#     -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/parent/build -j2
#   tests/behaviour/compare_test_outputs.sh /tmp/parent/build/glpdepth build/glpdepth
#
# The weights come from a short training run of the second build (so depth varies across each
# image, unlike fresh weights); both builds run LibTorch in fp32 on 2 threads, in four settings
# that cover the crops, protocols, windows, batching and flip test.
set -euo pipefail
OLD=$1
NEW=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$NEW" synth --output "$work/data" --count 32 --frames_per_drive 4 --seed 3 --scale 0.25 \
  --val_fraction 0 --test_fraction 0.25 > /dev/null
"$NEW" train --recipe demo --dataset kitti --data_path "$work/data" --epochs 2 --val_freq 0 \
  --output "$work/logs" --exp_name weights --threads 2 --workers 1 --seed 1 2> "$work/train.log" ||
  { cat "$work/train.log"; exit 1; }
weights="$work/logs/kitti/weights/last.ckpt"

settings=(
  ""
  "--kitti_crop garg --batch_size 3"
  "--kitti_crop eigen --protocol full-frame --window on --window_h 64 --window_w 160"
  "--flip_test --batch_size 2 --min_depth_eval 1 --max_depth_eval 50"
)
failed=0
for k in "${!settings[@]}"; do
  for tag in old new; do
    binary=$OLD
    [ "$tag" = new ] && binary=$NEW
    # shellcheck disable=SC2086
    "$binary" test --dataset kitti --data_path "$work/data" --ckpt "$weights" --backend libtorch \
      --precision fp32 --threads 2 --workers 1 --output "$work/$tag" --exp_name "s$k" \
      ${settings[$k]} > "$work/$tag-$k.log" 2>&1 || { cat "$work/$tag-$k.log"; exit 1; }
  done
  if ! cmp -s "$work/old/s$k/per_image.csv" "$work/new/s$k/per_image.csv"; then
    echo "setting $k (${settings[$k]:-defaults}): per_image.csv differs"
    diff "$work/old/s$k/per_image.csv" "$work/new/s$k/per_image.csv" | head -5 || true
    failed=1
  fi
  python3 - "$work/old/s$k/metrics.json" "$work/new/s$k/metrics.json" "${settings[$k]:-defaults}" <<'PY' || failed=1
import json, sys
# Timing and provenance: allowed to differ between builds and runs.
volatile = {"seconds", "version", "commit", "glpdepth", "date", "checkpoint", "list", "backend_version"}
def clean(value):
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if k not in volatile}
    return value
old, new = (clean(json.load(open(f))) for f in sys.argv[1:3])
if old != new:
    keys = sorted(set(old) | set(new))
    for key in keys:
        if old.get(key) != new.get(key):
            print(f"setting {sys.argv[3]}: metrics.json {key}: {old.get(key)!r} -> {new.get(key)!r}")
    sys.exit(1)
PY
done
[ "$failed" = 0 ] && echo "test outputs identical in ${#settings[@]} settings: $OLD and $NEW"
exit "$failed"
