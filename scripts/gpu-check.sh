#!/usr/bin/env bash
# The GPU check: one prepared command for a machine with an NVIDIA GPU, pip's torch (2.x, CUDA),
# nvcc, CMake and ninja, but no apt and no network (docs/GPU.md).
#
#   scripts/gpu-check.sh --prepare   (here, before) copies the header-only dependencies,
#                                    libjpeg-turbo, libdeflate and the GoogleTest sources into carry/
#                                    (git-ignored)
#   scripts/gpu-check.sh [--out DIR] (there) builds against the pip torch found, runs the CUDA
#                                    tests, a short bf16 and fp16 training, the benchmarks and the
#                                    race against the Python reference; writes DIR/report.json and
#                                    DIR/gpu-check.log (DIR defaults to gpu-report/, or $OUT)
#   scripts/gpu-check.sh --dry-run   prints every step; runs those that need no GPU (build, the
#                                    CUDA tests, which then skip, a short fp32 training on the CPU)
#
# Budget: about 8 minutes on an H100 including the build (only the CLI and the CUDA tests are
# built). Each step has its own time limit so that one hang cannot eat the whole lease.
set -uo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
MODE=run
REPORT=${OUT:-$PROJECT/gpu-report}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) MODE=dry ;;
    --prepare) MODE=prepare ;;
    --out) REPORT=$2; shift ;;
    *) echo "usage: scripts/gpu-check.sh [--prepare | --dry-run] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done

if [ "$MODE" = prepare ]; then
  rm -rf carry/third_party carry/googletest carry/jpeg carry/deflate
  mkdir -p carry/third_party
  for dir in stb CLI nlohmann gloo; do cp -r "/usr/include/$dir" carry/third_party/; done
  # libjpeg-turbo (JPEG decoding) is a library, not only headers: the machine may lack it.
  mkdir -p carry/jpeg
  cp /usr/include/{jpeglib,jerror,jmorecfg}.h /usr/include/x86_64-linux-gnu/jconfig.h carry/jpeg/
  cp -L /usr/lib/x86_64-linux-gnu/libjpeg.so.62 carry/jpeg/
  # libdeflate (PNG writing) likewise; without it the build falls back to stb's compressor.
  mkdir -p carry/deflate
  cp /usr/include/libdeflate.h carry/deflate/
  cp -L /usr/lib/x86_64-linux-gnu/libdeflate.so.0 carry/deflate/
  cp -r /usr/src/googletest carry/googletest
  du -sh carry
  exit 0
fi

mkdir -p "$REPORT"
LOG=$REPORT/gpu-check.log
: > "$LOG"
BUILD=${GPU_CHECK_BUILD:-build-gpu}
WORK=$(mktemp -d /tmp/glpdepth-gpu-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PYTHON=${GPU_CHECK_PYTHON:-python3}
[ "$MODE" = dry ] && [ -x .venv/bin/python ] && PYTHON=.venv/bin/python
GLPDEPTH=$BUILD/glpdepth
DEVICE=cuda
[ "$MODE" = dry ] && DEVICE=cpu
steps_json=()

log() { echo "$*" | tee -a "$LOG"; }

# step NAME LIMIT_SECONDS NEEDS_GPU COMMAND...: runs (or, in a dry run, prints) one step.
step() {
  local name=$1 limit=$2 needs_gpu=$3
  shift 3
  log "== $name: $*"
  if [ "$MODE" = dry ] && [ "$needs_gpu" = gpu ]; then
    log "   (dry run: needs a GPU, not run)"
    steps_json+=("{\"step\": \"$name\", \"status\": \"not run (dry run)\"}")
    return 0
  fi
  local start=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  local took=$((SECONDS - start))
  log "   exit $rc after ${took} s"
  steps_json+=("{\"step\": \"$name\", \"status\": $rc, \"seconds\": $took}")
  return $rc
}

log "glpdepth gpu-check ($MODE) $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), $(nproc) cores"
command -v nvidia-smi >/dev/null && nvidia-smi -L 2>&1 | tee -a "$LOG"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available', torch.cuda.is_available())" 2>&1 | tee -a "$LOG"

third_party=()
[ -d carry/third_party ] && third_party+=(-DGLPDEPTH_THIRD_PARTY="$PROJECT/carry/third_party")
[ -d carry/googletest ] && third_party+=(-DGLPDEPTH_GTEST_SOURCE="$PROJECT/carry/googletest")
[ -d carry/jpeg ] && third_party+=(-DJPEG_INCLUDE_DIR="$PROJECT/carry/jpeg"
                                   -DJPEG_LIBRARY="$PROJECT/carry/jpeg/libjpeg.so.62")
[ -d carry/deflate ] && third_party+=(-DGLPDEPTH_LIBDEFLATE_INCLUDE_DIR="$PROJECT/carry/deflate"
                                      -DGLPDEPTH_LIBDEFLATE_LIBRARY="$PROJECT/carry/deflate/libdeflate.so.0")
if [ ! -f "$BUILD/build.ninja" ]; then
  step configure 300 cpu scripts/configure-torch2.sh "$BUILD" "$PYTHON" \
    -DGLPDEPTH_BUILD_BENCH=OFF "${third_party[@]}" || exit 1
fi
step build 420 cpu cmake --build "$BUILD" -j "$(nproc)" --target glpdepth_cli test_cuda || exit 1

# The resume test trains three short runs; alone, so that a crash there hides no other result.
step cuda-tests 240 cpu "$BUILD/tests/test_cuda" --gtest_filter=-Cuda.RngState* \
  --gtest_output="json:$REPORT/cuda-tests.json"
if ! step cuda-resume-test 240 cpu "$BUILD/tests/test_cuda" --gtest_filter=Cuda.RngState* \
     --gtest_output="json:$REPORT/cuda-resume-test.json" && [ "$MODE" = run ] &&
   command -v cuda-gdb >/dev/null; then
  # It crashed with SIGSEGV on the first GPU machine (docs/GPU.md): keep a backtrace.
  step cuda-resume-backtrace 180 gpu cuda-gdb -q -batch -ex run -ex bt -ex "thread apply all bt 8" \
    --args "$BUILD/tests/test_cuda" --gtest_filter=Cuda.RngState*
fi
step synth-data 60 cpu "$GLPDEPTH" synth --out "$WORK/data" --count 160 --seed 1 --camera kitti \
  --scale 0.25 --val_fraction 0.1 --test_fraction 0.1
train_flags=(--dataset kitti --data_path "$WORK/data" --encoder b0 --epochs 2 --batch_size 16
             --crop_h 94 --crop_w 256 --lr 5e-4 --optimizer adamw --schedule cosine
             --warmup_steps 5 --workers 4 --pretrained none --log_dir "$WORK/logs" --log_every 2 --seed 1
             --device "$DEVICE")
if [ "$MODE" = dry ]; then  # the same training path on the CPU, in float32
  step train-fp32-cpu 300 cpu "$GLPDEPTH" train "${train_flags[@]}" --exp_name fp32 --max_steps_per_epoch 2
fi
step train-bf16 180 gpu "$GLPDEPTH" train "${train_flags[@]}" --exp_name bf16 --amp bf16 --channels_last
step train-fp16 180 gpu "$GLPDEPTH" train "${train_flags[@]}" --exp_name fp16 --amp fp16 --channels_last
for run in bf16 fp16; do
  [ -f "$WORK/logs/kitti/$run/metrics.csv" ] && cp "$WORK/logs/kitti/$run/metrics.csv" "$REPORT/train-$run-metrics.csv"
  [ -f "$WORK/logs/kitti/$run/train.csv" ] && cp "$WORK/logs/kitti/$run/train.csv" "$REPORT/train-$run-steps.csv"
done

bench() {  # bench NAME FLAGS...
  local name=$1
  shift
  step "bench-$name" 180 gpu "$GLPDEPTH" bench --random_weights --device cuda --json "$REPORT/bench-$name.json" "$@"
}
bench b4-infer-fp32 --encoder b4 --mode infer --height 352 --width 1216 --batch_size 1 --iters 50 --warmup 10
bench b4-infer-bf16-cl --encoder b4 --mode infer --height 352 --width 1216 --batch_size 1 --iters 50 --warmup 10 --amp bf16 --channels_last
bench b4-train-fp32 --encoder b4 --mode train --height 352 --width 704 --batch_size 8 --iters 10 --warmup 3
bench b4-train-bf16-cl --encoder b4 --mode train --height 352 --width 704 --batch_size 8 --iters 10 --warmup 3 --amp bf16 --channels_last
step race 300 gpu "$PYTHON" bench/reference/race.py --glpdepth "$GLPDEPTH" --device cuda \
  --iters 20 --warmup 5 --cases b4-infer-352x1216,b0-train-352x704-b2 --json "$REPORT/race.json"

{
  echo "{"
  echo "  \"mode\": \"$MODE\", \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"host\": \"$(hostname)\","
  echo "  \"gpu\": \"$(nvidia-smi -L 2>/dev/null | head -1 | sed 's/"//g')\","
  echo "  \"torch\": \"$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null)\","
  echo "  \"steps\": ["
  for i in "${!steps_json[@]}"; do
    sep=,
    [ "$i" -eq $((${#steps_json[@]} - 1)) ] && sep=
    echo "    ${steps_json[$i]}$sep"
  done
  echo "  ]"
  echo "}"
} > "$REPORT/report.json"
log "report: $REPORT/report.json, log: $LOG, total ${SECONDS} s"
