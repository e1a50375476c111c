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
  // Messages for humans (a rank failed, signals forwarded); nothing is printed when empty.
  std::function<void(const std::string&)> log;
};

// Starts ranks 0..nproc-1 with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK=0,
// MASTER_ADDR and MASTER_PORT set, waits for all of them and returns the exit code of the first
// rank that failed (128+N for a rank killed by signal N), 0 when all succeeded. SIGINT and SIGTERM
// sent to this process are passed on to the ranks, except those a terminal sends to the whole
// foreground process group, which the ranks receive themselves. Children die with SIGTERM when
// this process dies. Throws Error when a rank cannot be started.
int launch_local(const LaunchOptions& options);

// A TCP port that was free on 127.0.0.1 a moment ago.
int free_tcp_port();

}  // namespace glpdepth::dist
