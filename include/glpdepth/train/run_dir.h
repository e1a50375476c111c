// Run folders that never mix two runs (B16), and RNG state capture for exact resume.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace glpdepth {

struct RunDirOptions {
  // Continue a run: return the newest existing <exp_name>[_k] folder (created if none exists).
  bool resume = false;
  // Identifies the run configuration (e.g. the config JSON); stored in the folder's marker.
  std::string signature;
};

// Returns <log_dir>/<dataset>/<exp_name>, creating it. Without resume, an existing folder that
// holds anything (a finished run, a different run, or an unfinished one: appending to it would
// interleave two runs' logs) is skipped for <exp_name>_2, _3, ... The chosen folder gets a
// marker file (.glpdepth-run) holding the signature. Throws glpdepth::Error on bad names.
std::filesystem::path prepare_run_dir(const std::filesystem::path& log_dir,
                                      const std::string& dataset, const std::string& exp_name,
                                      const RunDirOptions& options = {});

// Marks a run as complete (file .glpdepth-finished), and asks whether one is.
void mark_run_finished(const std::filesystem::path& run_dir);
bool run_finished(const std::filesystem::path& run_dir);
// The signature stored by prepare_run_dir ("" when there is no marker).
std::string run_signature(const std::filesystem::path& run_dir);

// A reproducible stream of 64-bit seeds (for data-loader workers, augmentation, ...): value k is
// the first output of std::mt19937_64 seeded with (seed, k), so the state is just two numbers.
class SeedCounter {
 public:
  explicit SeedCounter(uint64_t seed = 0) : seed_(seed) {}
  uint64_t next();
  // The value next() would return k-th (0-based), without changing the counter.
  uint64_t at(uint64_t k) const;
  uint64_t seed() const { return seed_; }
  uint64_t count() const { return count_; }
  void restore(uint64_t seed, uint64_t count) {
    seed_ = seed;
    count_ = count;
  }

 private:
  uint64_t seed_;
  uint64_t count_ = 0;
};

// Random state for an exact resume: LibTorch's default CPU generator (and the CUDA ones when
// present) plus a SeedCounter.
struct RngState {
  std::vector<uint8_t> torch_cpu;
  std::vector<std::vector<uint8_t>> torch_cuda;  // one per device, empty without CUDA
  uint64_t seed = 0;
  uint64_t seed_count = 0;
};
RngState capture_rng_state(const SeedCounter& seeds);
// Throws glpdepth::Error if a state does not fit this build (e.g. other CUDA device count).
void restore_rng_state(const RngState& state, SeedCounter& seeds);

}  // namespace glpdepth
