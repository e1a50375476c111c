// Thread settings for LibTorch's intra-op pool.
#pragma once
#include <string>

namespace glpdepth {

// Sets LibTorch's intra-op threads; 0 means one per available core. Returns the count in use.
int set_compute_threads(int threads);

// Cores this process may run on (honours the CPU affinity mask, e.g. under Slurm or taskset).
int available_cores();

// Keeps freed tensor memory in the process instead of handing it back to the kernel. glibc serves
// blocks over 128 KiB-32 MiB with mmap and returns them with munmap on free, so every large
// activation (GLPDepth at 352x1216 allocates ~100 MB tensors) is page-faulted and zeroed anew
// on every forward. Turning mmap off for malloc and raising the trim threshold lets the heap
// reuse those pages (docs/PERFORMANCE.md). Call once at start-up, before the first tensor.
// GLPDEPTH_MALLOC=system in the environment leaves glibc's defaults alone. Returns whether the
// tuning was applied.
bool tune_malloc_for_tensors();

// When libblas.so.3 is OpenBLAS's pthread build, its own threads fight LibTorch's OpenMP pool
// (measured 2.5x slower on 2 cores, docs/PERFORMANCE.md): give it one thread, LibTorch
// parallelises around it. Leaves OpenBLAS alone when OPENBLAS_NUM_THREADS is set or the BLAS is
// the OpenMP build (which shares the pool). Returns a description of what it found and did.
std::string tune_blas_threads();

}  // namespace glpdepth
