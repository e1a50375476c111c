// Phase 1: the process's place in the run (run_setup.h).
#include "run_setup.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/location.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/sync_batchnorm.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/setup.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/log.h"
#include "glpdepth/train/phases.h"
#include "glpdepth/train/run_dir.h"
#include "glpdepth/train/step.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"
#include "glpdepth/version.h"

namespace glpdepth::training {


std::unique_ptr<RunContext> join_group(const TrainConfig& config, std::ostream& log,
                                       const TrainHooks& hooks) {
  auto ctx = std::make_unique<RunContext>();
  ctx->config = config;
  ctx->hooks = hooks;
  ctx->device = config.runtime.device;
  const dist::DistEnv env = dist::detect_env(dist::DetectOptions{config.dist.port});
  if (env.distributed()) {
    if (ctx->device.is_cuda() && !ctx->device.has_index())
      ctx->device = torch::Device(
          torch::kCUDA,
          dist::local_device_index(env, static_cast<int>(torch::cuda::device_count())));
    dist::GroupOptions options;
    options.backend = config.dist.backend == dist::Backend::kAuto
                          ? dist::default_backend(ctx->device)
                          : config.dist.backend;
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.dist.timeout * 1000));
    ctx->group = dist::Group::create(env, options);
  }
  ctx->config.runtime.device = ctx->device;
  ctx->out = ctx->is_main() ? &log : &ctx->discarded;
  // Fixed-size training crops: let cuDNN pick the fastest convolution algorithms once.
  if (ctx->device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  return ctx;
}

}  // namespace glpdepth::training
