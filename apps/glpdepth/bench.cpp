// `glpdepth bench`: latency, throughput and memory of GLPDepth inference or training steps.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli.h"
#include "flags.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/model/mit.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/train/optim.h"
#include "glpdepth/train/step.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/memory.h"
#include "glpdepth/version.h"

namespace glpdepth::cli {
namespace {

// What is timed: a forward pass, a flip-test forward pass (two images), or a training step.
enum class BenchMode { kInfer, kFlip, kTrain };

const char* mode_name(BenchMode mode) {
  switch (mode) {
    case BenchMode::kInfer: return "infer";
    case BenchMode::kFlip: return "flip";
    case BenchMode::kTrain: return "train";
  }
  return "?";
}

struct BenchCli {
  std::string ckpt;
  bool random_weights = false;
  PredictorOptions predictor;
  int64_t height = 352;
  int64_t width = 1216;
  int64_t batch_size = 0;
  BenchMode mode = BenchMode::kInfer;
  int iters = 10;
  int warmup = 2;
  std::string json;
  std::string save_output;
  AttentionKernel attention = AttentionKernel::kAuto;
};

// The deterministic image bench/reference/glpdepth_ref.py builds too (same formula).
torch::Tensor synthetic_input(int64_t batch, int64_t height, int64_t width) {
  auto options = torch::TensorOptions().dtype(torch::kFloat64);
  auto b = torch::arange(batch, options).view({-1, 1, 1, 1});
  auto c = torch::arange(3, options).view({1, -1, 1, 1});
  auto y = torch::arange(height, options).view({1, 1, -1, 1});
  auto x = torch::arange(width, options).view({1, 1, 1, -1});
  return (0.5 + 0.5 * torch::sin(0.05 * x * (c + 1) + 0.07 * y + 0.3 * b + c)).to(torch::kFloat32);
}

double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  double position = q * (values.size() - 1);
  size_t low = static_cast<size_t>(position);
  size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (position - low) * (values[high] - values[low]);
}

void run_bench(BenchCli options, const CommonOptions& common) {
  const int threads = apply_threads(common);
  const torch::Device device = resolve_device(common.device);
  const Precision precision = resolve_precision(options.predictor.precision, device);
  if (options.iters < 1) throw UsageError("--iters must be at least 1");
  if (options.batch_size == 0) options.batch_size = 1;
  if (options.height < 32 || options.width < 32 || options.batch_size < 1)
    throw UsageError("--height/--width must be >= 32 and --batch_size >= 1");

  if (options.attention == AttentionKernel::kSdpa && !sdpa_available())
    throw UsageError(cat("--attention sdpa: this LibTorch (", libtorch_version(),
                         ") has no scaled_dot_product_attention (2.1+); use auto or formula"));
  set_attention_kernel(options.attention);
  torch::manual_seed(0);
  PredictorOptions predictor_options = options.predictor;
  predictor_options.device = device;
  predictor_options.flip_test = options.mode == BenchMode::kFlip;
  // Training steps run on LibTorch: the predictor only holds the model for them.
  if (options.mode == BenchMode::kTrain) predictor_options.backend = Backend::kLibTorch;
  DepthPredictor predictor =
      open_predictor(options.ckpt, options.random_weights, predictor_options, "bench");
  Batch batch;
  batch.image = synthetic_input(options.batch_size, options.height, options.width).to(device);
  // Already in the layout the predictor wants: its conversion is then free inside the timing.
  if (options.predictor.channels_last)
    batch.image = batch.image.contiguous(torch::MemoryFormat::ChannelsLast);
  batch.depth = torch::full({options.batch_size, 1, options.height, options.width}, 20.0f,
                            torch::TensorOptions().device(device));
  batch.intrinsics = torch::zeros({options.batch_size, 4});
  for (int64_t i = 0; i < options.batch_size; ++i) batch.indices.push_back(i);

  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<TrainStep> train_step;
  if (options.mode == BenchMode::kTrain) {
    GLPDepth model = predictor.model();
    model->train();
    optimizer = make_optimizer(model->parameters(), OptimOptions{});
    TrainStepOptions step_options;
    step_options.device = device;
    step_options.precision = precision;
    step_options.channels_last = options.predictor.channels_last;
    train_step = std::make_unique<TrainStep>(model, *optimizer, step_options);
  }

  // With the throughput hint an iteration is parallel_calls() batches at once, as predict runs
  // them: images/s is then the figure to compare, not one call's time.
  const int64_t parallel = train_step ? 1 : predictor.parallel_calls();
  torch::Tensor last_output;
  auto step = [&] {
    if (train_step) {
      train_step->run(batch);
      return;
    }
    std::vector<std::thread> others;
    for (int64_t i = 1; i < parallel; ++i)
      others.emplace_back([&] { predictor.predict(batch.image); });
    last_output = predictor.predict(batch.image);
    for (std::thread& thread : others) thread.join();
  };

  for (int i = 0; i < options.warmup; ++i) step();
  synchronize(device);
  reset_peak_device_memory(device);
  std::vector<double> seconds;
  for (int i = 0; i < options.iters; ++i) {
    auto start = std::chrono::steady_clock::now();
    step();
    synchronize(device);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  const double median = quantile(seconds, 0.5);
  nlohmann::json result = {
      {"encoder", to_string(predictor.model_options().encoder)}, {"mode", mode_name(options.mode)},
      {"height", options.height},            {"width", options.width},
      {"batch_size", options.batch_size},    {"device", device.str()},
      {"amp", to_string(precision)},         {"channels_last", options.predictor.channels_last},
      {"backend", options.mode == BenchMode::kTrain ? "libtorch" : to_string(predictor.backend())},
      {"precision", precision_name(options.mode == BenchMode::kTrain ? precision : predictor.precision())},
      {"threads", threads},                  {"iters", options.iters},
      {"attention", attention_kernel() == AttentionKernel::kSdpa ? "sdpa" : "formula"},
      {"libtorch", libtorch_version()},
      {"warmup", options.warmup},            {"median_s", median},
      {"min_s", quantile(seconds, 0.0)},     {"max_s", quantile(seconds, 1.0)},
      {"p10_s", quantile(seconds, 0.1)},     {"p90_s", quantile(seconds, 0.9)},
      {"images_per_s", options.batch_size * parallel / median},
      {"performance_hint", to_string(options.predictor.hint)},
      {"parallel_calls", parallel},
      {"peak_rss_mib", peak_rss_mib()},      {"peak_cuda_mib", peak_device_mib(device)},
      {"times_s", seconds}};

  std::cout << std::fixed << std::setprecision(2) << "glpdepth bench: MiT-" << result["encoder"].get<std::string>()
            << " " << mode_name(options.mode) << " " << options.batch_size << "x3x" << options.height << "x"
            << options.width << " on "
            << (options.mode == BenchMode::kTrain ? cat("libtorch ", precision_name(precision), " on ", device.str())
                                        : predictor.describe_runtime())
            << " (" << threads << " threads"
            << (options.predictor.channels_last ? ", channels-last" : "") << ")\n"
            << "  median " << median * 1e3 << " ms  min " << quantile(seconds, 0.0) * 1e3
            << " ms  p90 " << quantile(seconds, 0.9) * 1e3 << " ms  "
            << options.batch_size * parallel / median << " images/s"
            << (parallel > 1 ? cat(" (", parallel, " calls at once)") : std::string())
            << "  peak RSS " << peak_rss_mib() << " MiB";
  if (device.is_cuda()) std::cout << "  peak CUDA " << peak_device_mib(device) << " MiB";
  std::cout << "\n";
  if (!options.json.empty()) write_bytes_atomic(options.json, result.dump(2) + "\n");
  if (!options.save_output.empty()) {
    if (!last_output.defined())
      throw UsageError("--save_output needs --mode infer or flip");
    write_npy(options.save_output, last_output);
  }
}

void setup_bench(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<BenchCli>();
  add_weights_flags(command, o->ckpt, o->random_weights);
  add_model_flags(command, o->predictor.model);
  add_batch_size_flag(command, o->batch_size, "1");
  add_inference_flags(command, o->predictor);
  const char* g = "Benchmark";
  add_option(command, "height", o->height, "input height", g)
      ->check(in_range(32, 16384));
  add_option(command, "width", o->width, "input width", g)
      ->check(in_range(32, 16384));
  add_enum_option(command, "mode", o->mode,
                  {{"infer", BenchMode::kInfer}, {"flip", BenchMode::kFlip}, {"train", BenchMode::kTrain}},
                  "infer, flip (flip-test inference) or train (forward, SiLog, backward, Adam step)", g);
  add_option(command, "iters", o->iters, "timed iterations", g)
      ->check(in_range(1, 1e6));
  add_option(command, "warmup", o->warmup, "untimed warm-up iterations", g)
      ->check(in_range(0, 1e6));
  add_option(command, "json", o->json, "write the results as JSON to this file", g);
  add_option(command, "save_output", o->save_output, "write the last inference output as float32 .npy", g);
  add_enum_option(command, "attention", o->attention,
                  {{"auto", AttentionKernel::kAuto},
                   {"formula", AttentionKernel::kFormula},
                   {"sdpa", AttentionKernel::kSdpa}},
                  "MiT attention: auto (SDPA where LibTorch has it, 2.1+), formula or sdpa", g);
  command.callback([o, &common] { run_bench(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"bench", "Measure inference or training speed and memory", 80, setup_bench});

}  // namespace glpdepth::cli
