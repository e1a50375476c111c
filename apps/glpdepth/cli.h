// Shared plumbing of the glpdepth command line: the command registry, flag helpers (every
// snake_case flag also answers to its kebab-case spelling; help sections; enum flags), JSON
// config files, device and thread selection, and "did you mean" suggestions.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "glpdepth/infer/predictor.h"
#include "glpdepth/util/strings.h"

namespace glpdepth::cli {

// Help sections, in the order --help shows them.
namespace section {
inline const char* const kData = "Data";
inline const char* const kModel = "Model";
inline const char* const kOptimisation = "Optimisation";
inline const char* const kSchedule = "Schedule";
inline const char* const kAugmentation = "Augmentation";
inline const char* const kValidation = "Evaluation";
inline const char* const kCheckpoints = "Checkpoints";
inline const char* const kOutput = "Output";
inline const char* const kLogging = "Logging";
inline const char* const kDevice = "Device and runtime";
inline const char* const kDistributed = "Distributed";
inline const char* const kCompat = "The original's flags";
inline const char* const kGeneral = "Options";  // CLI11's own group: --help, --config, ...
inline const std::vector<std::string> kOrder = {
    kGeneral, kData,    kModel,  kAugmentation, kOptimisation, kSchedule,   kValidation,
    kCheckpoints, kOutput, kLogging, kDevice, kDistributed, kCompat};
}  // namespace section

// Options every subcommand has (--config, --threads, --device, --gpu_or_cpu).
struct CommonOptions {
  int threads = 0;            // 0 = one per available core
  std::string device = "cpu"; // cpu | cuda | cuda:N
  std::string config;         // JSON file: option: value pairs (or a run's config.json for train)
  std::string command_line;   // "glpdepth train ..." as typed, for the records of a run
  // Set by commands whose configuration is a typed JSON document with defaults of its own
  // (train: config.json, recipes). Called once CLI11 has parsed the command line, with the
  // --config file's JSON (null without one); it must leave the options given on the command
  // line in force (reapply_given_options). Others take the file as option: value pairs.
  std::function<void(CLI::App& command, const nlohmann::json& config, const std::string& file)>
      configure;
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

// Exit codes besides 0 (success) and 1 (error): a usage error, and a training stopped by a signal
// with its state saved in last.ckpt: the job should be requeued (docs/RELIABILITY.md).
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 3;

std::string kebab(const std::string& snake_name);

// "--snake_name,--kebab-name" plus `aliases` (given with their dashes, e.g. "--ckpt_dir").
std::string option_names(const std::string& snake_name, const std::vector<std::string>& aliases = {});

// Adds "--snake_name,--kebab-name" bound to `value`, default shown in --help, in `group`.
template <typename T>
CLI::Option* add_option(CLI::App& app, const std::string& snake_name, T& value,
                        const std::string& help, const std::string& group,
                        const std::vector<std::string>& aliases = {}) {
  return app.add_option(option_names(snake_name, aliases), value, help)
      ->capture_default_str()
      ->group(group);
}

// The allowed values of a numeric flag, [min, max]: checked when the command line is parsed
// (before any work, a usage error naming the flag and the range) and shown in --help as
// "INT in [0, 4096]". Every numeric flag has one (tests/cli/ranges_cli_test.cpp).
CLI::Validator in_range(double min, double max);

CLI::Option* add_flag(CLI::App& app, const std::string& snake_name, bool& value,
                      const std::string& help, const std::string& group,
                      const std::vector<std::string>& aliases = {});

// An option whose values are names mapped to an enum (case-insensitive; the first name of a
// value is the one --help shows); a bad name is a usage error listing them. With `renamed_to`,
// this is a flag's old name: it still sets the value and warns that it is now `renamed_to`.
template <typename E>
CLI::Option* add_enum_option(CLI::App& app, const std::string& snake_name, E& value,
                             const std::vector<std::pair<std::string, E>>& names,
                             const std::string& help, const std::string& group,
                             const std::vector<std::string>& aliases = {},
                             const std::string& renamed_to = "") {
  std::string current, choices;
  for (const auto& [name, v] : names) {
    if (v == value && current.empty()) current = name;
    choices += (choices.empty() ? "" : ", ") + name;
  }
  auto* option = app.add_option_function<std::string>(
      option_names(snake_name, aliases),
      [&value, names, snake_name, choices, renamed_to,
       warned = std::make_shared<bool>(false)](const std::string& given) {
        if (!renamed_to.empty() && !*warned)  // once, though a config may run this again
          std::cerr << "warning: --" << snake_name << " is now " << renamed_to << "\n";
        *warned = true;
        const std::string key = to_lower(given);
        for (const auto& [name, v] : names) {
          if (name == key) {
            value = v;
            return;
          }
        }
        throw CLI::ValidationError("--" + snake_name + " " + given + ": expected " + choices);
      },
      help);
  option->default_str(current)->group(group)->type_name("NAME");
  return option;
}

// Parses --device; throws UsageError naming --device for bad or unavailable devices.
torch::Device resolve_device(const std::string& device);

// Applies --threads; returns the count in use.
int apply_threads(const CommonOptions& common);

// Called once CLI11 has parsed a subcommand (which allows extras, so that it can answer them):
// a left-over argument is a UsageError, with the closest option name as a suggestion ("unknown
// option --epoch; did you mean --epochs?"); then the --config file is read, once, and applied
// under the options given on the command line (`configure`, or as option: value pairs).
void finish_parse(CLI::App& command, CommonOptions& common);
// The first part of finish_parse: throws UsageError for an argument CLI11 left over. main also
// calls it when CLI11 stops earlier (a missing required option), so a typo is named first.
void check_leftovers(const CLI::App& command);

// A flat config file, {"option": value}: each option the command line did not give takes the
// file's value, checked as if it had been typed (UsageError naming the file otherwise).
void apply_flat_config(CLI::App& command, const nlohmann::json& config, const std::string& file);

// Runs again the options given on the command line (or by a flat config file), so that they win over values a command
// set after parsing (a config file, a recipe).
void reapply_given_options(CLI::App& command);

// The names of the options the user gave explicitly (snake_case, without dashes).
std::vector<std::string> given_options(const CLI::App& command);

// Throws UsageError unless exactly one of --ckpt and --random_weights is given, and Error when
// the --ckpt file does not exist: commands call it before any other work.
void check_weights_choice(const std::string& ckpt, bool random_weights, const std::string& purpose);

// The predictor of test/predict/bench: the weights file, or (only when asked for with
// `random_weights`) freshly initialised weights. Says on stderr when the model is camera-aware.
DepthPredictor open_predictor(const std::string& ckpt, bool random_weights,
                              const PredictorOptions& options, const std::string& purpose);


// --help that reads the same with every CLI11 version: "--name,--alias TYPE=default  help",
// options grouped in sections.
std::shared_ptr<CLI::Formatter> help_formatter();

}  // namespace glpdepth::cli

#define GLPDEPTH_CONCAT_INNER(a, b) a##b
#define GLPDEPTH_CONCAT(a, b) GLPDEPTH_CONCAT_INNER(a, b)
// Registers a subcommand from its own .cpp file: GLPDEPTH_COMMAND({"name", "text", 10, setup});
#define GLPDEPTH_COMMAND(...)                                                                 \
  static const bool GLPDEPTH_CONCAT(glpdepth_command_registered_, __LINE__) =                 \
      ::glpdepth::cli::register_command(::glpdepth::cli::Command __VA_ARGS__)
