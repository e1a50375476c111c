#include "cli.h"

#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"
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

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.10g", value);
  return buffer;
}

// "<command>: unknown option --x; did you mean --y? (see glpdepth <command> --help)", answering
// in the spelling the user typed (--val-fraction for --val-fractoin).
std::string unknown_option(const CLI::App& command, const std::string& name) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options())
    for (const std::string& long_name : option->get_lnames()) names.push_back("--" + long_name);
  std::string guess = closest_match(name, names);
  if (!guess.empty() && name.find('-', 2) != std::string::npos)
    guess = "--" + kebab(guess.substr(2));
  return cat(command.get_name(), ": unknown option ", name,
             guess.empty() ? std::string() : cat("; did you mean ", guess, "?"), " (see glpdepth ",
             command.get_name(), " --help)");
}

nlohmann::json read_config_file(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw UsageError(cat("--config ", file, ": cannot open file"));
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw UsageError(cat("--config ", file, ": not valid JSON: ", e.what()));
  }
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

std::string option_names(const std::string& snake_name, const std::vector<std::string>& aliases) {
  std::string names = "--" + snake_name;
  if (kebab(snake_name) != snake_name) names += ",--" + kebab(snake_name);
  for (const std::string& alias : aliases) names += "," + alias;
  return names;
}

CLI::Validator in_range(double min, double max) {
  const std::string range = "[" + number_text(min) + ", " + number_text(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end == text.c_str() || *end != '\0' || !std::isfinite(value))
          return "expected a number in " + range + ", got '" + text + "'";
        if (value < min || value > max) return "must be in " + range + ", got " + text;
        return "";
      },
      "in " + range, "range");
}

CLI::Option* add_flag(CLI::App& app, const std::string& snake_name, bool& value,
                      const std::string& help, const std::string& group,
                      const std::vector<std::string>& aliases) {
  return app.add_flag(option_names(snake_name, aliases), value, help)
      ->capture_default_str()
      ->group(group);
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

void check_leftovers(const CLI::App& command) {
  std::vector<std::string> left = command.remaining();
  // CLI11 keeps the "--" that ends the options (launch's) among the extras.
  left.erase(std::remove(left.begin(), left.end(), std::string("--")), left.end());
  for (const std::string& arg : left)
    if (arg.size() > 1 && arg[0] == '-')
      throw UsageError(unknown_option(command, arg.substr(0, arg.find('='))));
  if (!left.empty())
    throw UsageError(cat(command.get_name(), ": unexpected argument '", left.front(),
                         "' (see glpdepth ", command.get_name(), " --help)"));
}

void apply_flat_config(CLI::App& command, const nlohmann::json& config, const std::string& file) {
  if (!config.is_object())
    throw UsageError(cat("--config ", file, ": expected a JSON object of option: value"));
  for (const auto& [key, value] : config.items()) {
    if (key == "config" || value.is_null()) continue;
    CLI::Option* option = command.get_option_no_throw("--" + key);
    if (option == nullptr)
      throw UsageError(cat("--config ", file, ": ", unknown_option(command, "--" + key)));
    if (option->count() > 0) continue;  // the command line wins
    std::vector<std::string> results;
    if (value.is_array()) {
      for (const auto& element : value) results.push_back(json_scalar_to_arg(element, key, file));
    } else {
      results.push_back(json_scalar_to_arg(value, key, file));
    }
    try {
      for (const std::string& result : results) option->add_result(result);
      option->run_callback();
    } catch (const CLI::Error& e) {
      throw UsageError(cat("--config ", file, ": ", e.what()));
    }
  }
}

void finish_parse(CLI::App& command, CommonOptions& common) {
  check_leftovers(command);
  const nlohmann::json config =
      common.config.empty() ? nlohmann::json() : read_config_file(common.config);
  if (common.configure) {
    common.configure(command, config, common.config);
  } else if (!config.is_null()) {
    apply_flat_config(command, config, common.config);
  }
}

void reapply_given_options(CLI::App& command) {
  for (CLI::Option* option : command.get_options(std::function<bool(CLI::Option*)>{}))
    if (option->count() > 0) option->run_callback();
}

std::vector<std::string> given_options(const CLI::App& command) {
  std::vector<std::string> given;
  for (const CLI::Option* option : command.get_options()) {
    if (option->count() == 0 || option->get_lnames().empty()) continue;
    given.push_back(option->get_lnames().front());
  }
  return given;
}

void check_weights_choice(const std::string& ckpt, bool random_weights,
                          const std::string& purpose) {
  if (ckpt.empty() && !random_weights)
    throw UsageError(cat(purpose,
                         " needs weights: give --ckpt FILE (our checkpoint, an official "
                         "GLPDepth .ckpt, a PyTorch state_dict or safetensors), or "
                         "--random_weights to run an untrained model on purpose"));
  if (!ckpt.empty() && random_weights)
    throw UsageError("--ckpt and --random_weights are alternatives; give one");
  std::error_code ec;
  if (!ckpt.empty() && !std::filesystem::exists(ckpt, ec))
    throw Error(cat("--ckpt ", ckpt, ": no such file"));
  if (!ckpt.empty() && std::filesystem::is_directory(ckpt, ec))
    throw Error(cat("--ckpt ", ckpt,
                    ": is a folder; give a weights file (.ckpt, .pth, .pt, "
                    ".safetensors)"));
}

DepthPredictor open_predictor(const std::string& ckpt, bool random_weights,
                              const PredictorOptions& options, const std::string& purpose) {
  check_weights_choice(ckpt, random_weights, purpose);
  DepthPredictor predictor =
      ckpt.empty() ? DepthPredictor::random_weights(options) : DepthPredictor::open(ckpt, options);
  if (random_weights)
    std::cerr << "note: --random_weights: " << purpose << " with untrained MiT-"
              << predictor.model_options().encoder << " weights\n";
  if (options.backend == Backend::kAuto && options.device.is_cpu() && !openvino_available())
    std::cerr << "note: backend auto: this glpdepth was built without OpenVINO; running on "
                 "LibTorch (make installs it: scripts/make-openvino-env.sh)\n";
  if (predictor.camera_aware())
    std::cerr << purpose << ": camera-aware model, depth = output x fx / "
              << predictor.model_options().canonical_focal << " px\n";
  return predictor;
}

namespace {

// Names and defaults written the same way whatever CLI11 prints by default (2.1 and 2.4
// differ): "--max_depth,--max-depth FLOAT=0".
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_name(const CLI::Option* option, bool positional) const override {
    if (positional) return option->get_name(true, false);
    std::string names;
    for (const std::string& name : option->get_lnames())
      names += (names.empty() ? "--" : ",--") + name;
    for (const std::string& name : option->get_snames())
      names += (names.empty() ? "-" : ",-") + name;
    return names;
  }
  std::string make_option_opts(const CLI::Option* option) const override {
    std::string out;
    if (option->get_expected_max() != 0 && !option->get_type_name().empty()) {
      std::string type = option->get_type_name();  // "INT:in [0, 4096]" with a range
      const size_t colon = type.find(":in [");
      if (colon != std::string::npos) type[colon] = ' ';
      out += " " + type;
    }
    if (!option->get_default_str().empty()) out += "=" + option->get_default_str();
    if (option->get_expected_max() > 1) out += " ...";
    if (option->get_required()) out += " (required)";
    return out;
  }
  // CLI11 lists sections in the order their first option was added, which differs per command;
  // here every command shows them in section::kOrder, a command's own sections (synth's Scenes,
  // bench's Benchmark) right after the general options.
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return CLI::Formatter::make_help(app, name, mode);
    std::string out = make_description(app) + make_usage(app, name) + make_positionals(app);
    bool first = true;
    for (const std::string& group : ordered_groups(app)) {
      auto options = app->get_options([&](const CLI::Option* option) {
        return option->get_group() == group && option->nonpositional();
      });
      if (group.empty() || options.empty()) continue;
      out += (first ? "" : "\n") + make_group(group, false, options);
      first = false;
    }
    return out + make_subcommands(app, mode) + "\n" + make_footer(app);
  }

 private:
  static std::vector<std::string> ordered_groups(const CLI::App* app) {
    std::vector<std::string> groups = app->get_groups();
    auto rank = [](const std::string& group) {
      const auto& order = section::kOrder;
      const auto found = std::find(order.begin(), order.end(), group);
      return found == order.end() ? 1 : 2 * (found - order.begin());
    };
    std::stable_sort(groups.begin(), groups.end(),
                     [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
    return groups;
  }
};

}  // namespace

std::shared_ptr<CLI::Formatter> help_formatter() {
  auto formatter = std::make_shared<HelpFormatter>();
  formatter->column_width(40);
  return formatter;
}

}  // namespace glpdepth::cli
