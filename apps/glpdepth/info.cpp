// `glpdepth info`: what this build and machine offer (versions, threads, devices).
#include <torch/torch.h>

#include <iostream>

#include "cli.h"
#include "glpdepth/io/video.h"
#include "glpdepth/deploy/onnx_export.h"
#include "glpdepth/infer/backend.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/precision.h"
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
  std::cout << "\n"
            << "inference backends: libtorch"
            << (openvino_available() ? cat(", openvino (OpenVINO ", openvino_version(), ")")
                                     : std::string(" (built without OpenVINO)"))
            << "; --backend auto runs "
            << (openvino_available() ? "openvino" : "libtorch") << " on the CPU\n"
            << "CPU bf16: " << (cpu_has_native_bf16() ? "native (AMX or AVX512-BF16)" : "emulated")
            << "; --precision auto runs " << (cpu_has_native_bf16() ? "bf16" : "fp32")
            << " on the CPU\n"
            << "ONNX export: " << (onnx_export_available() ? "yes" : "no") << "\n"
            << "video: " << (video_supported() ? "yes, " + video_library_versions() : std::string("no (FFmpeg's libraries were not found when glpdepth was built)")) << "\n";
}

}  // namespace

GLPDEPTH_COMMAND({"info", "Show versions, threads and devices of this build", 900,
                  [](CLI::App& command, CommonOptions& common) {
                    command.callback([&common] { run_info(common); });
                  }});

}  // namespace glpdepth::cli
