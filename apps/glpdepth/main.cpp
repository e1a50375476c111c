// glpdepth: one binary, one subcommand per task. Each subcommand registers itself from its own
// file (see GLPDEPTH_COMMAND in cli.h). Exit codes: 0 success, 1 error, 2 usage error.
#include <c10/util/Exception.h>

#include <cstdlib>
#include <iostream>

#include "cli.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"
#include "glpdepth/util/threads.h"
#include "glpdepth/version.h"

namespace {

using namespace glpdepth;

void check_command_name(const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty() || args[0][0] == '-') return;
  std::vector<std::string> names;
  for (const auto& command : cli::registered_commands()) {
    if (command.name == args[0]) return;
    names.push_back(command.name);
  }
  const std::string guess = closest_match(args[0], names);
  throw UsageError(cat("unknown command '", args[0], "'",
                       guess.empty() ? std::string() : cat("; did you mean '", guess, "'?"),
                       " (glpdepth --help lists the commands)"));
}

void add_common_options(CLI::App& sub, cli::CommonOptions& common) {
  cli::add_option(sub, "config", common.config,
                  "JSON file of option: value pairs (train also takes a run's config.json); "
                  "flags given here override it",
                  cli::section::kDevice);
  cli::add_option(sub, "threads", common.threads,
                  "intra-op compute threads (0 = one per available core)", cli::section::kDevice)
      ->check(cli::in_range(0, 4096));
  cli::add_option(sub, "device", common.device, "cpu, cuda or cuda:N", cli::section::kDevice);
  sub.add_option_function<std::string>(
         cli::option_names("gpu_or_cpu"),
         [&common](const std::string& value) {
           if (value == "gpu") common.device = "cuda";
           else if (value == "cpu") common.device = "cpu";
           else throw CLI::ValidationError("--gpu_or_cpu " + value + ": expected gpu or cpu");
         },
         "the original's flag: gpu = --device cuda, cpu = --device cpu")
      ->type_name("NAME")
      ->default_str("cpu")
      ->group(cli::section::kCompat);
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc_for_tensors();
  tune_blas_threads();
  // Named, so that every usage line reads "Usage: glpdepth <command> [OPTIONS]".
  CLI::App app{"glpdepth: monocular metric depth estimation (GLPDepth) for driving scenes",
               "glpdepth"};
  app.formatter(cli::help_formatter());
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("glpdepth ") + version());
  app.option_defaults()->always_capture_default();

  // GLPDEPTH_PARSE_ONLY=1: parse the command line (names, values, config files) and stop before
  // any work, exit 0 when it parses. The docs test (tests/docs) checks with it the documented
  // commands that cannot run here (real datasets, GPUs, Slurm).
  const char* parse_only_env = std::getenv("GLPDEPTH_PARSE_ONLY");
  const bool parse_only = parse_only_env && std::string(parse_only_env) == "1";

  std::vector<std::unique_ptr<cli::CommonOptions>> owned;
  std::vector<cli::CommonOptions*> commons;
  for (const auto& command : cli::registered_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    sub->formatter(cli::help_formatter());
    sub->option_defaults()->always_capture_default()->multi_option_policy(
        CLI::MultiOptionPolicy::TakeLast);
    auto& common = *owned.emplace_back(std::make_unique<cli::CommonOptions>());
    commons.push_back(&common);
    command.setup(*sub, common);
    add_common_options(*sub, common);
    // Extras are answered by finish_parse, with a suggestion for a mistyped option.
    sub->allow_extras();
    // Runs once the command line is parsed, before the command's own callback: the config file,
    // then (parse only) a stop before any work.
    sub->parse_complete_callback([sub, &common, parse_only, name = command.name] {
      cli::finish_parse(*sub, common);
      if (parse_only) {
        std::cout << "parsed: " << name << "\n";
        throw cli::ExitRequest{0};
      }
    });
    // --help shows every default: flags read "off", empty strings read "".
    for (CLI::Option* option : sub->get_options()) {
      if (option->get_name() == "--help" || !option->get_default_str().empty()) continue;
      if (option->nonpositional() && option->get_expected_max() == 0)
        option->default_str("off");
      else if (option->nonpositional())
        option->default_str("\"\"");
    }
  }

  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    check_command_name(args);
    for (cli::CommonOptions* common : commons) {
      common->command_line = "glpdepth";
      for (int i = 1; i < argc; ++i) common->command_line += std::string(" ") + argv[i];
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here too (exit 0); every real parse error is a usage error
    // with the same "error:" line as the others.
    if (e.get_exit_code() == 0) return app.exit(e);
    try {
      for (const CLI::App* sub : app.get_subcommands()) cli::check_leftovers(*sub);
    } catch (const UsageError& unknown) {
      std::cerr << "error: " << unknown.what() << "\n";
      return 2;
    }
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const cli::ExitRequest& request) {
    return request.code;
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
