#!/usr/bin/env bash
# Fuzzing (issue 27, docs/RELIABILITY.md): builds the libFuzzer targets of fuzz/ with clang-14
# (ASan + UBSan, in build-asan/, shared with make test-asan), writes seed corpora with glpdepth's
# own writers, then runs each target for SECONDS over its growing corpus, the seeds and its kept
# regression inputs (fuzz/regressions/<target>/), with issue 27's limits: 5 s per input, 2 GB
# RSS, 2 GB per allocation. Prints libFuzzer's coverage after the seeds (INITED) and at the end
# (DONE) and its closing statistics. A crash, leak, hang or over-allocation stops it, the input
# kept in build-asan/findings/<target>/.
#   scripts/fuzz.sh [SECONDS [TARGET...]]      (make fuzz FUZZ_SECONDS=900 for a campaign; 0
#                                               replays the seeds and kept inputs only)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
# The ASan + UBSan build of `make test-asan` (build-asan/) holds the fuzz targets too: one
# instrumented build for both.
build=${GLPDEPTH_FUZZ_BUILD:-build-asan}
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGLPDEPTH_SANITIZE=address -DGLPDEPTH_FUZZ=ON >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi
# GLPDEPTH_FUZZ_RUN_ONLY=1 runs what is built (while another build uses the folder).
if [ "${GLPDEPTH_FUZZ_RUN_ONLY:-0}" != 1 ]; then
  cmake --build "$build" -j "${JOBS:-2}" --target make_seeds "${targets[@]}"
  rm -rf "$build/seeds"
  "$build/fuzz/make_seeds" "$build/seeds" >/dev/null
fi
seeds="$build/seeds"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  findings="$build/findings/$target"
  mkdir -p "$corpus" "$findings" "$seeds/$target"
  inputs=("$corpus" "$seeds/$target")
  [ -d "fuzz/regressions/$target" ] && inputs+=("fuzz/regressions/$target")
  dictionary=()
  case $target in pytorch_file_fuzz | weights_fuzz) dictionary=(-dict=fuzz/pytorch.dict) ;; esac
  log="$build/findings/$target.log"
  # 0 seconds: each kept input and seed once, no mutation (deterministic, for CI).
  length=(-max_total_time="$seconds")
  [ "$seconds" = 0 ] && length=(-runs=0)
  if ! "$build/fuzz/$target" "${length[@]}" -timeout=5 -rss_limit_mb=2048 \
      -malloc_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 \
      "${dictionary[@]}" "${inputs[@]}" >"$log" 2>&1; then
    echo "fuzz: $target found a problem (input in $findings/, log $log):"
    tail -40 "$log"
    exit 1
  fi
  echo "$target ($seconds s):"
  grep -E "INITED|DONE" "$log" | sed 's/^/  /'
  grep -E "stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$log" | sed 's/^/  /'
done
