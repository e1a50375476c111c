#!/usr/bin/env bash
# A/B of CPU runtime settings on MiT-b4 inference 352x1216, 2 threads (docs/PERFORMANCE.md).
#   bench/cpu_settings.sh [build/glpdepth]
# Needs both OpenBLAS builds installed (libopenblas0-pthread and libopenblas0-openmp); the
# system's libblas.so.3 choice is overridden per run with LD_LIBRARY_PATH.
set -uo pipefail
GLPDEPTH=${1:-build/glpdepth}
LIB=/usr/lib/x86_64-linux-gnu
run() {
  local name=$1; shift
  echo "$name | $("$@" "$GLPDEPTH" bench --encoder b4 --threads 2 --iters 3 --warmup 1 2>&1 | grep median | sed 's/^ *//')"
}
date -u
run "pthread OpenBLAS, GLPDEPTH_MALLOC=system" env LD_LIBRARY_PATH=$LIB/openblas-pthread OPENBLAS_NUM_THREADS=2 GLPDEPTH_MALLOC=system
run "pthread OpenBLAS" env LD_LIBRARY_PATH=$LIB/openblas-pthread OPENBLAS_NUM_THREADS=2
run "pthread OpenBLAS + OMP_WAIT_POLICY=PASSIVE" env LD_LIBRARY_PATH=$LIB/openblas-pthread OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
run "pthread OpenBLAS, 1 thread (glpdepth's default there)" env LD_LIBRARY_PATH=$LIB/openblas-pthread
run "OpenMP OpenBLAS" env LD_LIBRARY_PATH=$LIB/openblas-openmp
run "OpenMP OpenBLAS + OMP_WAIT_POLICY=PASSIVE" env LD_LIBRARY_PATH=$LIB/openblas-openmp OMP_WAIT_POLICY=PASSIVE
run "OpenMP OpenBLAS, GLPDEPTH_MALLOC=system" env LD_LIBRARY_PATH=$LIB/openblas-openmp GLPDEPTH_MALLOC=system
run "OpenMP OpenBLAS, 1 MiB attention blocks" env LD_LIBRARY_PATH=$LIB/openblas-openmp GLPDEPTH_ATTN_BLOCK=262144
