// `glpdepth launch`: N local ranks of one program with torchrun's environment, for a single
// machine without torchrun.
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace glpdepth::dist {

struct LaunchOptions {
  int nproc = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;        // 0: pick a free port
  std::string program;            // empty: this executable (/proc/self/exe)
  std::vector<std::string> args;  // arguments after the program name, the same for every rank
  std::vector<std::pair<std::string, std::string>> extra_env;  // set in every child as well
  // After the first rank fails, the others get this long to stop on their own (they usually
  // notice through their collectives), then SIGTERM, then as long again before SIGKILL.
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  // Elastic restarts (torchrun's --max-restarts): after a failure, once every rank has stopped,
  // the whole group starts again, up to this many times. Each start sets
  // TORCHELASTIC_RESTART_COUNT (0, 1, ...) and TORCHELASTIC_MAX_RESTARTS like torchrun, and
  // uses a fresh port when master_port is 0. The program continues from its own checkpoints
  // (glpdepth train --resume auto).
  int max_restarts = 0;
  // Exit codes that end the launch without a restart: failures a restart cannot cure (glpdepth:
  // 2, a usage error) or stops that were asked for (3, a training interrupted by a signal).
  std::vector<int> final_exit_codes;
  // Messages for humans (a rank failed, restarts, signals forwarded); nothing is printed when
  // empty.
  std::function<void(const std::string&)> log;
};

// Starts ranks 0..nproc-1 with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK=0,
// MASTER_ADDR and MASTER_PORT set, waits for all of them and returns the exit code of the first
// rank that failed (128+N for a rank killed by signal N) in the last start, 0 when all
// succeeded. SIGINT, SIGTERM and SIGUSR1 sent to this process are passed on to the ranks, except
// those a terminal sends to the whole foreground process group, which the ranks receive
// themselves; a launch that passed a signal on is not restarted. Children die with SIGTERM when
// this process dies. Throws Error when a rank cannot be started.
int launch_local(const LaunchOptions& options);

// A TCP port that was free on 127.0.0.1 a moment ago.
int free_tcp_port();

}  // namespace glpdepth::dist
