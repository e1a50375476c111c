#include "glpdepth/util/threads.h"

#include <sched.h>
#include <torch/torch.h>

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

int set_compute_threads(int threads) {
  int count = threads > 0 ? threads : available_cores();
  torch::set_num_threads(count);
  return torch::get_num_threads();
}

}  // namespace glpdepth
