#include "glpdepth/train/run_dir.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/torch.h>

#include <fstream>
#include <mutex>
#include <random>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = ".glpdepth-run";
constexpr const char* kFinished = ".glpdepth-finished";

void check_name(const std::string& what, const std::string& name) {
  check(!name.empty(), "run folder: ", what, " is empty");
  check(name != "." && name != ".." && name.find('/') == std::string::npos &&
            name.find('\\') == std::string::npos,
        "run folder: ", what, " '", name, "' must be a plain folder name");
}

bool empty_dir(const fs::path& dir) {
  return fs::is_directory(dir) && fs::is_empty(dir);
}

}  // namespace

fs::path prepare_run_dir(const fs::path& log_dir, const std::string& dataset,
                         const std::string& exp_name, const RunDirOptions& options) {
  check_name("dataset", dataset);
  check_name("exp_name", exp_name);
  const fs::path parent = log_dir / dataset;
  auto candidate = [&](int k) { return parent / (k == 1 ? exp_name : cat(exp_name, "_", k)); };

  fs::path chosen;
  if (options.resume) {
    // The newest existing one: the highest k with candidate(k) present, scanning until a gap.
    for (int k = 1; fs::exists(candidate(k)); ++k) chosen = candidate(k);
    if (chosen.empty()) chosen = candidate(1);
  } else {
    for (int k = 1;; ++k) {
      const fs::path dir = candidate(k);
      if (!fs::exists(dir) || empty_dir(dir)) {
        chosen = dir;
        break;
      }
      check(k < 100000, "run folder: too many runs named ", exp_name, " in ", parent.string());
    }
  }
  check(!fs::exists(chosen) || fs::is_directory(chosen), "run folder ", chosen.string(),
        ": exists and is not a folder");
  std::error_code ec;
  fs::create_directories(chosen, ec);
  check(!ec, "run folder ", chosen.string(), " (under the log folder ", log_dir.string(),
        "): cannot create it (", ec.message(), ")");
  if (!fs::exists(chosen / kMarker)) write_bytes_atomic(chosen / kMarker, options.signature);
  return chosen;
}

void mark_run_finished(const fs::path& run_dir) {
  write_bytes_atomic(run_dir / kFinished, "finished\n");
}

bool run_finished(const fs::path& run_dir) {
  return fs::exists(run_dir / kFinished);
}

std::string run_signature(const fs::path& run_dir) {
  const fs::path marker = run_dir / kMarker;
  if (!fs::exists(marker)) return "";
  return read_file_bytes(marker);
}

// ---------------------------------------------------------------------------------------------

uint64_t SeedCounter::at(uint64_t k) const {
  std::seed_seq sequence{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                         static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32)};
  std::mt19937_64 engine(sequence);
  return engine();
}

uint64_t SeedCounter::next() {
  return at(count_++);
}

namespace {

std::vector<uint8_t> generator_state(const at::Generator& generator) {
  at::Generator gen = generator;
  std::lock_guard<std::mutex> lock(gen.mutex());
  at::Tensor state = gen.get_state().contiguous();
  const auto* data = state.data_ptr<uint8_t>();
  return std::vector<uint8_t>(data, data + state.numel());
}

void set_generator_state(const at::Generator& generator, const std::vector<uint8_t>& bytes,
                         const std::string& what) {
  at::Generator gen = generator;
  at::Tensor state = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::copy(bytes.begin(), bytes.end(), state.data_ptr<uint8_t>());
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(state);
  } catch (const c10::Error& e) {
    throw Error(
        cat("rng state: cannot restore the ", what, " generator: ", e.what_without_backtrace()));
  }
}

int64_t cuda_devices() {
  return at::hasCUDA() ? static_cast<int64_t>(at::detail::getCUDAHooks().getNumGPUs()) : 0;
}

}  // namespace

RngState capture_rng_state(const SeedCounter& seeds) {
  RngState s;
  s.torch_cpu = generator_state(at::detail::getDefaultCPUGenerator());
  for (int64_t i = 0; i < cuda_devices(); ++i) {
    s.torch_cuda.push_back(generator_state(
        at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<int8_t>(i)))));
  }
  s.seed = seeds.seed();
  s.seed_count = seeds.count();
  return s;
}

void restore_rng_state(const RngState& state, SeedCounter& seeds) {
  check(!state.torch_cpu.empty(), "rng state: the CPU generator state is missing");
  const int64_t devices = cuda_devices();
  check(state.torch_cuda.empty() || static_cast<int64_t>(state.torch_cuda.size()) == devices,
        "rng state: saved for ", state.torch_cuda.size(), " CUDA device(s), this machine has ",
        devices);
  set_generator_state(at::detail::getDefaultCPUGenerator(), state.torch_cpu, "CPU");
  for (size_t i = 0; i < state.torch_cuda.size(); ++i) {
    set_generator_state(
        at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<int8_t>(i))),
        state.torch_cuda[i], cat("CUDA:", i));
  }
  seeds.restore(state.seed, state.seed_count);
}

}  // namespace glpdepth
