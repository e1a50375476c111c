#!/usr/bin/env bash
# Makes (or completes) the small virtual environment of the OpenVINO backend, git-ignored at
# .venv-openvino/ (or $1): PyPI's `openvino` wheel, which carries the C++ headers, the shared
# libraries (CPU plugin, ONNX reader) and OpenVINOConfig.cmake that glpdepth builds against
# (about 180 MB with numpy). Separate from the several-GB torch environment of `make test-torch2`.
# Called by `make` before configuring; GLPDEPTH_OPENVINO=0 skips it (glpdepth then builds with
# LibTorch only). A failure here is not fatal: the build says which backends it has.
# Idempotent: a complete environment is left as it is (a stamp file records the package list).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-openvino}
PACKAGES=(openvino==2026.4.1)
if [ "${GLPDEPTH_OPENVINO:-1}" = 0 ]; then
  echo "make-openvino-env: GLPDEPTH_OPENVINO=0, skipped"
  exit 0
fi
stamp="$VENV/.glpdepth-packages"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ]; then
  echo "make-openvino-env: $VENV is complete (${PACKAGES[*]})"
  exit 0
fi
# Debian's python3: a pyenv python earlier on PATH would make an environment that breaks when
# pyenv changes.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  echo "make-openvino-env: installing Debian's python3-venv"
  ${SUDO:-} apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq python3-venv
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || { echo "make-openvino-env: cannot create $VENV; building without OpenVINO" >&2; exit 0; }
fi
echo "make-openvino-env: installing ${PACKAGES[*]} into $VENV"
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"; then
  echo "make-openvino-env: pip failed; glpdepth builds without the OpenVINO backend" >&2
  exit 0
fi
printf '%s' "${PACKAGES[*]}" > "$stamp"
"$VENV/bin/python" -c "import openvino, os; print('make-openvino-env: OpenVINO', openvino.__version__, 'at', os.path.dirname(openvino.__file__))"
