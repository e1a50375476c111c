// `glpdepth info`: what this build and machine offer (versions, threads, devices).
#include <torch/torch.h>

#include <iostream>

#include "cli.h"
#include "glpdepth/util/threads.h"
#include "glpdepth/version.h"

namespace glpdepth::cli {
namespace {

void run_info(const CommonOptions& common) {
  int threads = apply_threads(common);
  const torch::Device device = resolve_device(common.device);
  std::cout << "glpdepth " << version() << " (" << source_commit() << ")\n"
            << "LibTorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "."
            << TORCH_VERSION_PATCH << "\n"
            << "available cores: " << available_cores() << ", intra-op threads: " << threads
            << "\n"
            << "CUDA available: " << (torch::cuda::is_available() ? "yes" : "no");
  if (torch::cuda::is_available()) std::cout << " (" << torch::cuda::device_count() << " device(s))";
  std::cout << "\ndevice: " << device.str() << "\n";
#ifdef GLPDEPTH_HAVE_GLOO
  std::cout << "distributed: gloo";
#else
  std::cout << "distributed: none (built without Gloo headers)";
#endif
  std::cout << "\n";
}

}  // namespace

GLPDEPTH_COMMAND({"info", "Show versions, threads and devices of this build", 900,
                  [](CLI::App& command, CommonOptions& common) {
                    command.callback([&common] { run_info(common); });
                  }});

}  // namespace glpdepth::cli
