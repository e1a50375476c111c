#include "cli.h"

#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <iostream>

#include "glpdepth/util/error.h"
#include "glpdepth/util/threads.h"

namespace glpdepth::cli {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

std::string json_scalar_to_arg(const nlohmann::json& value, const std::string& key,
                               const std::string& file) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  if (value.is_number()) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.17g", value.get<double>());
    return buffer;
  }
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  throw UsageError(cat("--config ", file, ": key \"", key,
                       "\" must be a string, number, boolean or a list of those"));
}
}  // namespace

bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}

const std::vector<Command>& registered_commands() {
  auto& commands = registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const Command& a, const Command& b) { return a.order < b.order; });
  return commands;
}

std::string kebab(const std::string& snake_name) {
  std::string out = snake_name;
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

CLI::Option* add_flag(CLI::App& app, const std::string& snake_name, bool& value,
                      const std::string& help) {
  std::string names = "--" + snake_name;
  if (kebab(snake_name) != snake_name) names += ",--" + kebab(snake_name);
  return app.add_flag(names, value, help)->capture_default_str();
}

torch::Device resolve_device(const std::string& device) {
  torch::Device parsed(torch::kCPU);
  try {
    parsed = torch::Device(device);
  } catch (const std::exception&) {
    throw UsageError(cat("--device ", device, ": expected cpu, cuda or cuda:N"));
  }
  if (parsed.is_cuda()) {
    if (!torch::cuda::is_available())
      throw UsageError(cat("--device ", device,
                           ": CUDA is not available (CPU-only LibTorch or no GPU visible)"));
    if (parsed.has_index() && parsed.index() >= static_cast<int>(torch::cuda::device_count()))
      throw UsageError(cat("--device ", device, ": only ", torch::cuda::device_count(),
                           " CUDA device(s) visible"));
  } else if (!parsed.is_cpu()) {
    throw UsageError(cat("--device ", device, ": expected cpu, cuda or cuda:N"));
  }
  return parsed;
}

int apply_threads(const CommonOptions& common) {
  if (common.threads < 0) throw UsageError(cat("--threads ", common.threads, ": must be >= 0"));
  return set_compute_threads(common.threads);
}

std::vector<std::string> expand_config_files(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Only the arguments of the subcommand itself (everything before a "--" separator).
  size_t end = std::find(args.begin(), args.end(), std::string("--")) - args.begin();
  std::string config_file;
  for (size_t i = 0; i < end; ++i) {
    if (args[i] == "--config" && i + 1 < end) config_file = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) config_file = args[i].substr(9);
  }
  if (config_file.empty() || args.empty()) return args;

  std::ifstream in(config_file);
  if (!in) throw UsageError(cat("--config ", config_file, ": cannot open file"));
  nlohmann::json config;
  try {
    in >> config;
  } catch (const std::exception& e) {
    throw UsageError(cat("--config ", config_file, ": not valid JSON: ", e.what()));
  }
  if (!config.is_object())
    throw UsageError(cat("--config ", config_file, ": expected a JSON object of option: value"));

  std::vector<std::string> inserted;
  for (const auto& [key, value] : config.items()) {
    if (key == "config") continue;
    std::string flag = "--" + key;
    if (value.is_boolean()) {
      inserted.push_back(flag + "=" + (value.get<bool>() ? "true" : "false"));
    } else if (value.is_array()) {
      inserted.push_back(flag);
      for (const auto& element : value) inserted.push_back(json_scalar_to_arg(element, key, config_file));
    } else if (!value.is_null()) {
      inserted.push_back(flag);
      inserted.push_back(json_scalar_to_arg(value, key, config_file));
    }
  }
  // Insert after the subcommand name (the first argument).
  args.insert(args.begin() + 1, inserted.begin(), inserted.end());
  return args;
}

DepthPredictor open_predictor(const std::string& ckpt, const PredictorOptions& options,
                              const std::string& purpose) {
  if (ckpt.empty()) std::cerr << "warning: no --ckpt given, " << purpose << " with fresh weights\n";
  DepthPredictor predictor = ckpt.empty() ? DepthPredictor::random_weights(options)
                                          : DepthPredictor::open(ckpt, options);
  if (predictor.camera_aware())
    std::cerr << purpose << ": camera-aware model, depth = output x fx / "
              << predictor.model_options().canonical_focal << " px\n";
  return predictor;
}

std::string format_seconds(double seconds) {
  char buffer[64];
  if (seconds < 60) {
    std::snprintf(buffer, sizeof(buffer), "%.1f s", seconds);
  } else if (seconds < 3600) {
    int s = static_cast<int>(seconds + 0.5);
    std::snprintf(buffer, sizeof(buffer), "%d min %02d s", s / 60, s % 60);
  } else {
    int m = static_cast<int>(seconds / 60 + 0.5);
    std::snprintf(buffer, sizeof(buffer), "%d h %02d min", m / 60, m % 60);
  }
  return buffer;
}

}  // namespace glpdepth::cli
