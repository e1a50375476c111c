// Thread settings for LibTorch's intra-op pool.
#pragma once

namespace glpdepth {

// Sets LibTorch's intra-op threads; 0 means one per available core. Returns the count in use.
int set_compute_threads(int threads);

// Cores this process may run on (honours the CPU affinity mask, e.g. under Slurm or taskset).
int available_cores();

}  // namespace glpdepth
