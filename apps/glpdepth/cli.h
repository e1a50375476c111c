// Shared plumbing of the glpdepth command line: command registry, option helpers that give every
// snake_case flag its kebab-case alias, JSON config files, device and thread selection.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "glpdepth/infer/predictor.h"

namespace glpdepth::cli {

// Options every subcommand has.
struct CommonOptions {
  int threads = 0;            // 0 = one per available core
  std::string device = "cpu"; // cpu | cuda | cuda:N
  std::string config;         // JSON file whose keys are option names; flags override it
};

using Setup = std::function<void(CLI::App& command, CommonOptions& common)>;

struct Command {
  std::string name;
  std::string description;
  int order = 100;  // position in --help
  Setup setup;      // adds the options and sets the callback
};

bool register_command(Command command);
const std::vector<Command>& registered_commands();

// A command that needs a specific exit code (e.g. `launch` forwarding a child's) throws this.
struct ExitRequest {
  int code;
};

std::string kebab(const std::string& snake_name);

// Adds "--snake_name,--kebab-name" bound to `value`, default shown in --help.
template <typename T>
CLI::Option* add_option(CLI::App& app, const std::string& snake_name, T& value,
                        const std::string& help) {
  std::string names = "--" + snake_name;
  if (kebab(snake_name) != snake_name) names += ",--" + kebab(snake_name);
  return app.add_option(names, value, help)->capture_default_str();
}

CLI::Option* add_flag(CLI::App& app, const std::string& snake_name, bool& value,
                      const std::string& help);

// Parses --device; throws UsageError naming --device for bad or unavailable devices.
torch::Device resolve_device(const std::string& device);

// Applies --threads; returns the count in use.
int apply_threads(const CommonOptions& common);

// Turns argv into the argument list CLI11 parses, with the contents of any
// `--config FILE.json` inserted right after the subcommand name as "--key value" pairs, so that
// flags given on the command line (which come later) override the file.
std::vector<std::string> expand_config_files(int argc, char** argv);

// The predictor of test/predict/bench: --ckpt (any weights file the library reads), or fresh
// weights with a warning when none is given. Says on stderr when the model is camera-aware.
DepthPredictor open_predictor(const std::string& ckpt, const PredictorOptions& options,
                              const std::string& purpose);

// Formats a duration for humans: "1.2 s", "3 min 04 s".
std::string format_seconds(double seconds);

}  // namespace glpdepth::cli

#define GLPDEPTH_CONCAT_INNER(a, b) a##b
#define GLPDEPTH_CONCAT(a, b) GLPDEPTH_CONCAT_INNER(a, b)
// Registers a subcommand from its own .cpp file: GLPDEPTH_COMMAND({"name", "text", 10, setup});
#define GLPDEPTH_COMMAND(...)                                                                 \
  static const bool GLPDEPTH_CONCAT(glpdepth_command_registered_, __LINE__) =                 \
      ::glpdepth::cli::register_command(::glpdepth::cli::Command __VA_ARGS__)
