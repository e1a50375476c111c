// glpdepth: one binary, one subcommand per task. Each subcommand registers itself from its own
// file (see GLPDEPTH_COMMAND in cli.h).
#include <c10/util/Exception.h>

#include <iostream>

#include "cli.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/threads.h"

int main(int argc, char** argv) {
  using namespace glpdepth;
  tune_malloc_for_tensors();
  tune_blas_threads();
  CLI::App app{"glpdepth: monocular metric depth estimation (GLPDepth) for driving scenes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "glpdepth 0.1.0");
  app.option_defaults()->always_capture_default();

  std::vector<std::unique_ptr<cli::CommonOptions>> commons;
  for (const auto& command : cli::registered_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    sub->option_defaults()->always_capture_default()->multi_option_policy(
        CLI::MultiOptionPolicy::TakeLast);
    auto& common = *commons.emplace_back(std::make_unique<cli::CommonOptions>());
    cli::add_option(*sub, "config", common.config,
                    "JSON file of option: value pairs; command-line flags override it");
    cli::add_option(*sub, "threads", common.threads,
                    "intra-op compute threads (0 = one per available core)");
    cli::add_option(*sub, "device", common.device, "cpu, cuda or cuda:N");
    command.setup(*sub, common);
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
    std::vector<std::string> args = cli::expand_config_files(argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
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
