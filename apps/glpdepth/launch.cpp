// `glpdepth launch --nproc N [--master_port P] -- <subcommand> ...`: N local ranks of this binary
// with torchrun's environment, for one machine without torchrun.
#include <iostream>

#include "cli.h"
#include "glpdepth/dist/launch.h"
#include "glpdepth/util/error.h"

namespace glpdepth::cli {
namespace {

struct LaunchArgs {
  int nproc = 1;
  int master_port = 29500;
  std::string master_addr = "127.0.0.1";
  double grace = 10.0;
  int max_restarts = 0;
  std::vector<std::string> command;
};

void run_launch(const LaunchArgs& args) {
  if (args.command.empty()) {
    throw UsageError("launch: give the command after --, e.g. launch --nproc 2 -- train ...");
  }
  if (args.command.front() == "launch") throw UsageError("launch: cannot launch `launch`");
  if (args.nproc < 1) throw UsageError(cat("--nproc: ", args.nproc, " must be at least 1"));
  if (args.master_port < 0 || args.master_port > 65535) {
    throw UsageError(cat("--master_port: ", args.master_port, " is not a TCP port"));
  }
  if (!(args.grace >= 0)) throw UsageError(cat("--grace: ", args.grace, " must be >= 0"));
  if (args.max_restarts < 0)
    throw UsageError(cat("--max_restarts: ", args.max_restarts, " must be >= 0"));
  dist::LaunchOptions options;
  options.nproc = args.nproc;
  options.master_port = args.master_port;
  options.master_addr = args.master_addr;
  options.args = args.command;
  options.grace = std::chrono::milliseconds(static_cast<int64_t>(args.grace * 1000));
  options.max_restarts = args.max_restarts;
  // A restart cannot cure a usage error, and an interrupted training was asked to stop.
  options.final_exit_codes = {kExitUsage, kExitInterrupted};
  options.log = [](const std::string& line) { std::cerr << line << std::endl; };
  int code = dist::launch_local(options);
  if (code != 0) throw ExitRequest{code};
}

}  // namespace

GLPDEPTH_COMMAND({"launch", "Start N local ranks of a command (one machine, no torchrun)", 800,
                  [](CLI::App& command, CommonOptions&) {
                    auto args = std::make_shared<LaunchArgs>();
                    add_option(command, "nproc", args->nproc, "number of local ranks to start", "Launch")
      ->check(in_range(1, 1024));
                    add_option(command, "master_port", args->master_port,
                               "rendezvous TCP port (0 picks a free one)", "Launch")
      ->check(in_range(0, 65535));
                    add_option(command, "master_addr", args->master_addr,
                               "rendezvous address given to the ranks", "Launch");
                    add_option(command, "grace", args->grace,
                               "seconds the other ranks get to stop after one fails, before "
                               "SIGTERM (and again before SIGKILL)",
                               "Launch")
      ->check(in_range(0, 3600));
                    add_option(command, "max_restarts", args->max_restarts,
                               "restart the whole group this many times after a rank fails "
                               "(train with --resume auto continues from last.ckpt)",
                               "Launch")
      ->check(in_range(0, 1000));
                    command
                        .add_option("command", args->command,
                                    "the glpdepth subcommand and its flags, after --")
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
                    command.callback([args] { run_launch(*args); });
                  }});

}  // namespace glpdepth::cli
