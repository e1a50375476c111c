#!/usr/bin/env bash
# Makes (or completes) the project's test virtual environment, git-ignored at .venv/ (or $1):
# pip's torch 2.x (the CUDA build: its LibTorch is what `make test-torch2` builds against) and
# the PyPI tools that tests use to check our files: onnxruntime, onnx, tensorboard, numpy.
# Nothing is installed system-wide; the README's two commands never need this.
# Idempotent: a complete environment is left as it is (a stamp file records the package list).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PACKAGES=(
  torch==2.15.0
  numpy==2.4.6
  onnxruntime==1.32.0
  onnx==1.23.2
  tensorboard==2.21.0
)
stamp="$VENV/.glpdepth-packages"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ]; then
  echo "make-venv: $VENV is complete (${PACKAGES[*]})"
  exit 0
fi
# Debian's python3 (python3-venv from install-deps); a pyenv python earlier on PATH would make
# an environment that breaks when pyenv changes.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  echo "make-venv: installing Debian's python3-venv"
  ${SUDO:-} apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq python3-venv
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "make-venv: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
echo "make-venv: installing ${PACKAGES[*]} (the CUDA build of torch is several GB)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
printf '%s' "${PACKAGES[*]}" > "$stamp"
"$VENV/bin/python" -c "import torch; print('make-venv: torch', torch.__version__, 'CUDA', torch.version.cuda)"
