#!/usr/bin/env bash
# One race of glpdepth builds on the same input: MiT-b4 inference 352x1216, batch 1, on the CPU,
# each build in turn for several rounds (so that a slow minute of the machine hits all of them),
# the median of every build's timed iterations reported (docs/PERFORMANCE.md).
#   bench/race_builds.sh [--rounds N] [--iters N] [--threads N] NAME=BINARY[:FLAGS] ...
# e.g. bench/race_builds.sh debian12=build/glpdepth "torch2-sdpa=build-torch2/glpdepth:--attention sdpa"
#      "torch2-formula=build-torch2/glpdepth:--attention formula"
set -euo pipefail
ROUNDS=3
ITERS=3
THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: bench/race_builds.sh [--rounds N] [--iters N] [--threads N] NAME=BINARY[:FLAGS] ..." >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "race: MiT-b4 infer 1x3x352x1216 on the CPU, $THREADS threads, $ROUNDS rounds x $ITERS iterations, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
for ((round = 1; round <= ROUNDS; round++)); do
  for entry in "$@"; do
    name=${entry%%=*}
    spec=${entry#*=}
    binary=${spec%%:*}
    flags=
    [ "$spec" != "$binary" ] && flags=${spec#*:}
    # shellcheck disable=SC2086  # flags are words
    "$binary" bench --random_weights --encoder b4 --mode infer --height 352 --width 1216 \
      --batch_size 1 --iters "$ITERS" --warmup 1 --threads "$THREADS" $flags \
      --json "$WORK/$name-$round.json" > /dev/null 2>&1 ||
      { echo "race: $name failed: $binary bench $flags" >&2; exit 1; }
  done
done
python3 - "$WORK" "$@" <<'EOF'
import json, statistics, sys, glob, os
work = sys.argv[1]
print(f"{'build':<18} {'libtorch':<14} {'attention':<9} {'median ms':>10} {'min ms':>8} {'peak RSS MiB':>13}")
for entry in sys.argv[2:]:
    name = entry.split("=", 1)[0]
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(work, f"{name}-*.json")))]
    times = [t for r in runs for t in r["times_s"]]
    print(f"{name:<18} {runs[0].get('libtorch', '?'):<14} {runs[0].get('attention', '?'):<9} "
          f"{statistics.median(times) * 1e3:>10.0f} {min(times) * 1e3:>8.0f} "
          f"{max(r['peak_rss_mib'] for r in runs):>13.0f}")
EOF
