#include "glpdepth/util/threads.h"

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

int set_compute_threads(int threads) {
  int count = threads > 0 ? threads : available_cores();
  torch::set_num_threads(count);
  return torch::get_num_threads();
}

}  // namespace glpdepth
