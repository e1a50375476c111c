#!/usr/bin/env bash
# Configures a build of glpdepth against the LibTorch inside pip's `torch` (2.x, CUDA build):
#   scripts/configure-torch2.sh BUILD_DIR [PYTHON] [extra cmake args...]
# PYTHON (default .venv/bin/python, made by scripts/make-venv.sh) must import torch. CUDA and NCCL
# are on when that torch is a CUDA build and a CUDA toolkit is found ($CUDA_HOME, /usr/local/cuda):
# the binary then links the real CUDA libraries of the wheels and, where no driver is installed,
# the toolkit's libcuda stub. Tests use the same Python (PyTorch 2.x reads and writes the files).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: configure-torch2.sh BUILD_DIR [PYTHON] [cmake args...]}
PYTHON=${2:-.venv/bin/python}
shift $(( $# >= 2 ? 2 : 1 ))
[ -x "$PYTHON" ] || PYTHON=$(command -v "$PYTHON" || true)
[ -n "$PYTHON" ] || { echo "configure-torch2: no Python; run scripts/make-venv.sh" >&2; exit 1; }
# Absolute, but not through its symlink: a venv's python links to the system one.
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"

probe='
import glob, os, torch
nccl = ""
try:
    import nvidia.nccl
    nccl = os.path.join(list(nvidia.nccl.__path__)[0], "include")
except Exception:
    pass
libs = []
try:
    import nvidia
    for root in nvidia.__path__:
        libs += sorted(glob.glob(os.path.join(root, "*", "lib")))
except Exception:
    pass
print(os.path.dirname(torch.__file__), torch.utils.cmake_prefix_path, torch.__version__,
      torch.version.cuda or "none", nccl or "-", ":".join(libs) or "-")
'
read -r TORCH_PREFIX TORCH_CMAKE TORCH_VERSION TORCH_CUDA NCCL_INCLUDE NVIDIA_LIBS \
  < <("$PYTHON" -c "$probe" 2>/dev/null)
[ -n "${TORCH_PREFIX:-}" ] || { echo "configure-torch2: $PYTHON cannot import torch" >&2; exit 1; }
echo "configure-torch2: torch $TORCH_VERSION (CUDA $TORCH_CUDA) from $PYTHON"

# The torch folder itself leads the prefix path: TorchConfig looks for libtorch.so with
# find_library, which would otherwise find a system LibTorch (Debian's 1.13) first.
args=(-S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
      -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$TORCH_CMAKE" -DGLPDEPTH_TEST_PYTHON="$PYTHON"
      -DTORCH_CUDA_ARCH_LIST=9.0)
if [ "$TORCH_CUDA" != none ]; then
  cuda_home=${CUDA_HOME:-/usr/local/cuda}
  if [ ! -x "$cuda_home/bin/nvcc" ] && command -v nvcc >/dev/null; then
    cuda_home=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  fi
  [ -x "$cuda_home/bin/nvcc" ] || { echo "configure-torch2: torch is a CUDA build but no CUDA toolkit at $cuda_home (set CUDA_HOME)" >&2; exit 1; }
  args+=(-DCUDAToolkit_ROOT="$cuda_home" -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc")
  [ "$NCCL_INCLUDE" != - ] && args+=(-DGLPDEPTH_NCCL_INCLUDE="$NCCL_INCLUDE")
  # libtorch_cuda.so's own needs (NCCL, cuBLAS, ...) are resolved at link time through
  # -rpath-link: the wheels' libraries, not an older copy in the toolkit (/usr/local/cuda's
  # libnccl lacks symbols pip's LibTorch uses).
  if [ "$NVIDIA_LIBS" != - ]; then
    link_flags="-Wl,-rpath-link,${NVIDIA_LIBS//:/ -Wl,-rpath-link,}"
    args+=(-DCMAKE_EXE_LINKER_FLAGS="$link_flags" -DCMAKE_SHARED_LINKER_FLAGS="$link_flags")
  fi
fi
cmake "${args[@]}" "$@"
