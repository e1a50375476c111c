#include "glpdepth/util/threads.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace glpdepth {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

bool tune_malloc_for_tensors() {
  const char* choice = std::getenv("GLPDEPTH_MALLOC");
  if (choice && std::string(choice) == "system") return false;
#if defined(__GLIBC__)
  // Non-zero return means success for mallopt.
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) != 0;
  const bool no_trim = mallopt(M_TRIM_THRESHOLD, 1 << 30) != 0;
  return no_mmap && no_trim;
#else
  return false;
#endif
}

std::string tune_blas_threads() {
  using GetParallel = int (*)();
  using SetThreads = void (*)(int);
  auto get_parallel = reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  if (!get_parallel) return "BLAS is not OpenBLAS";
  const int kind = get_parallel();  // 0 sequential, 1 pthreads, 2 OpenMP
  if (kind != 1) return kind == 2 ? "OpenBLAS (OpenMP build)" : "OpenBLAS (sequential build)";
  if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("GOTO_NUM_THREADS"))
    return "OpenBLAS (pthread build, threads from the environment)";
  auto set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (!set_threads) return "OpenBLAS (pthread build)";
  set_threads(1);
  return "OpenBLAS (pthread build, set to 1 thread)";
}

int set_compute_threads(int threads) {
  int count = threads > 0 ? threads : available_cores();
  torch::set_num_threads(count);
  return torch::get_num_threads();
}

}  // namespace glpdepth
