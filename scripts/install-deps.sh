#!/usr/bin/env bash
# Installs the Debian 12 packages glpdepth needs, only those that are missing. Idempotent.
set -euo pipefail
packages=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev          # LibTorch 1.13 (CPU)
  libopenblas0-openmp   # fast BLAS behind libblas.so.3 sharing LibTorch's OpenMP threads
                        # (docs/PERFORMANCE.md: 2.5x faster b4 inference than the pthread build)
  libgloo-dev           # c10d Gloo headers for CPU distributed training
  libstb-dev libcli11-dev nlohmann-json3-dev   # header-only: image codecs, CLI, JSON
  libdeflate-dev        # PNG deflate and CRCs (faster than zlib's and stb's)
  libjpeg-dev           # JPEG decoding: libjpeg-turbo, as under OpenCV's imread
  libavformat-dev libavcodec-dev libswscale-dev   # video in and out (FFmpeg; docs/VIDEO.md)
  googletest libgtest-dev
  libonnx-dev libprotobuf-dev   # ONNX export: the ONNX schema's protobuf classes (docs/DEPLOY.md)
  python3-onnx          # tests check exported models with onnx.checker
  python3-torch python3-numpy   # tests make and check PyTorch files; bench/reference
  python3-pil           # bench/learnability.py reads the demo's PNGs
)
# Debian 13 also packages ONNX Runtime: the ONNX tests then run against it (on Debian 12 they use
# the test venv's, or skip).
. /etc/os-release 2>/dev/null || true
if [ "${VERSION_CODENAME:-}" = trixie ]; then packages+=(python3-onnxruntime); fi
# make test-asan, test-tsan and fuzz: clang with its sanitizer runtimes and libFuzzer.
if [ "${GLPDEPTH_SANITIZER_DEPS:-0}" = 1 ]; then packages+=(clang-14 libclang-rt-14-dev); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# BLAS -> the OpenMP OpenBLAS (the pthread build, if also installed, has a higher
# priority and would win in auto mode; its threads fight LibTorch's OpenMP pool).
# LibTorch links libblas.so.3, liblapack.so.3 and libopenblas.so.0: all three must be the same build.
select_openmp_blas() {
  local lib want
  for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
    want=/usr/lib/x86_64-linux-gnu/openblas-openmp/$lib
    # One level: the target is itself a symlink to the versioned file.
    if [ -e "$want" ] && [ "$(readlink "/etc/alternatives/$lib-x86_64-linux-gnu" 2>/dev/null)" != "$want" ]; then
      ${SUDO:-} update-alternatives --set "$lib-x86_64-linux-gnu" "$want" >/dev/null &&
        echo "install-deps: $lib -> $want"
    fi
  done
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  if [ "$(id -u)" -eq 0 ]; then select_openmp_blas; fi
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
  command -v sudo >/dev/null || { echo "install-deps: missing packages and not root: ${missing[*]}" >&2; exit 1; }
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
select_openmp_blas
