#!/usr/bin/env bash
# Installs the built project into a temporary prefix and builds examples/depth_png against it
# twice, with find_package (only CMAKE_PREFIX_PATH pointing at the prefix) and with pkg-config
# alone; both programs must write the same 16-bit depth PNG, byte for byte, as `glpdepth
# predict` on the same image and checkpoint. Where the build has video, examples/depth_stream
# (its own decoding into a DepthStream) must write each frame's depth .npy byte for byte as
# `glpdepth predict VIDEO --save_npy`.
#   consumer_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SOURCE=$(cd "$2" && pwd)
CLI=$BUILD/glpdepth
work=$(mktemp -d /tmp/glpdepth-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { echo "== $*"; }

step "install into $work/prefix"
cmake --install "$BUILD" --prefix "$work/prefix" > "$work/install.log"
for f in include/glpdepth/glpdepth.h bin/glpdepth; do
  [ -e "$work/prefix/$f" ] || { echo "missing $f after install"; exit 1; }
done
config=$(find "$work/prefix" -name glpdepthConfig.cmake | head -1)
pc=$(find "$work/prefix" -name glpdepth.pc | head -1)
[ -n "$config" ] && [ -n "$pc" ] || { echo "no CMake package or pkg-config file installed"; exit 1; }
"$work/prefix/bin/glpdepth" --version

step "a checkpoint from a two-step training"
"$CLI" synth --output "$work/data" --count 8 --scale 0.1 --seed 3 --frames_per_drive 4 \
  --val_fraction 0 --test_fraction 0 --workers 1 > /dev/null
"$CLI" train --data_path "$work/data" --encoder b0 --pretrained none --epochs 1 --batch_size 2 \
  --max_steps_per_epoch 2 --crop_h 32 --crop_w 64 --val_freq 0 --workers 1 --threads 1 \
  --output "$work/logs" --exp_name ckpt 2> "$work/train.log" || { cat "$work/train.log"; exit 1; }
ckpt=$work/logs/kitti/ckpt/last.ckpt
image=$(find "$work/data" -name '*.png' -path '*image_02*' | sort | head -1)
stem=$(basename "$image" .png)

step "glpdepth predict (the reference)"
"$CLI" predict "$image" --ckpt "$ckpt" --save_png16 --threads 1 --output "$work/predict" > /dev/null
reference=$(find "$work/predict" -name '*_depth16.png' | head -1)

step "find_package consumer"
cmake -S "$SOURCE/examples/depth_png" -B "$work/example" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/example-configure.log" ||
  { cat "$work/example-configure.log"; exit 1; }
cmake --build "$work/example" > "$work/example-build.log" || { cat "$work/example-build.log"; exit 1; }
OMP_NUM_THREADS=1 "$work/example/depth_png" "$image" "$ckpt" "$work/find_package.png"
cmp "$work/find_package.png" "$reference"

step "pkg-config consumer"
pc_flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs glpdepth)
c++ -O2 "$SOURCE/examples/depth_png/main.cpp" -o "$work/depth_png_pkgconfig" $pc_flags
OMP_NUM_THREADS=1 "$work/depth_png_pkgconfig" "$image" "$ckpt" "$work/pkg_config.png"
cmp "$work/pkg_config.png" "$reference"

if "$CLI" info --threads 1 | grep -q '^video: yes'; then
  step "depth_stream consumer (video)"
  frames=$(dirname "$image")
  "$CLI" predict "$frames" --ckpt "$ckpt" --save_video --threads 1 --output "$work/movie" > /dev/null
  "$CLI" predict "$work/movie/depth.mp4" --ckpt "$ckpt" --save_npy --threads 1 \
    --output "$work/video_predict" > /dev/null
  cmake -S "$SOURCE/examples/depth_stream" -B "$work/stream" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/stream-configure.log" ||
    { cat "$work/stream-configure.log"; exit 1; }
  cmake --build "$work/stream" > "$work/stream-build.log" || { cat "$work/stream-build.log"; exit 1; }
  OMP_NUM_THREADS=1 "$work/stream/depth_stream" "$work/movie/depth.mp4" "$ckpt" "$work/stream_out" \
    > "$work/stream.txt"
  count=0
  for reference in "$work"/video_predict/depth_*_depth.npy; do
    index=$((10#$(basename "$reference" | cut -d_ -f2)))
    cmp "$work/stream_out/$index.npy" "$reference"
    count=$((count + 1))
  done
  [ "$count" -gt 1 ] && [ "$(wc -l < "$work/stream.txt")" -eq "$count" ] ||
    { echo "depth_stream: $(wc -l < "$work/stream.txt") frames, predict: $count"; exit 1; }
  echo "depth_stream matches glpdepth predict on $count video frames byte for byte"
fi
echo "both consumers match glpdepth predict byte for byte"
