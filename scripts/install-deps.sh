#!/usr/bin/env bash
# Installs the Debian 12 packages glpdepth needs, only those that are missing. Idempotent.
set -euo pipefail
packages=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev          # LibTorch 1.13 (CPU)
  libopenblas0-pthread  # fast BLAS behind libblas.so.3 (the reference BLAS is ~30x slower)
  libgloo-dev           # c10d Gloo headers for CPU distributed training
  libstb-dev libcli11-dev nlohmann-json3-dev   # header-only: image codecs, CLI, JSON
  googletest libgtest-dev
  python3-torch python3-numpy   # tests make and check PyTorch files; bench/reference
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
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
