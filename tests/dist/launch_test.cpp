#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "glpdepth/dist/launch.h"
#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

using Clock = std::chrono::steady_clock;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

LaunchOptions shell(int nproc, const std::string& script, const testing::TempDir& dir) {
  LaunchOptions options;
  options.nproc = nproc;
  options.program = "/bin/sh";
  options.args = {"-c", script};
  options.extra_env = {{"D", dir.path().string()}};
  return options;
}

TEST(Launch, EveryRankGetsItsEnvironment) {
  testing::TempDir dir;
  LaunchOptions options =
      shell(3,
            "echo $RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $GROUP_RANK $MASTER_ADDR "
            "$MASTER_PORT > $D/rank_$RANK",
            dir);
  options.master_port = 23917;
  ASSERT_EQ(launch_local(options), 0);
  for (int rank = 0; rank < 3; ++rank) {
    std::string r = std::to_string(rank);
    EXPECT_EQ(slurp(dir / ("rank_" + r)), r + " " + r + " 3 3 0 127.0.0.1 23917\n");
  }
}

TEST(Launch, PortZeroPicksOneFreePortForAllRanks) {
  testing::TempDir dir;
  LaunchOptions options = shell(2, "echo $MASTER_PORT > $D/port_$RANK", dir);
  options.master_port = 0;
  ASSERT_EQ(launch_local(options), 0);
  std::string port = slurp(dir / "port_0");
  EXPECT_EQ(port, slurp(dir / "port_1"));
  int value = std::stoi(port);
  EXPECT_GT(value, 0);
  EXPECT_LE(value, 65535);
}

TEST(Launch, ReturnsTheFirstFailureAndTerminatesTheOthersAfterTheGrace) {
  testing::TempDir dir;
  // Rank 1 fails; the others would sleep 30 s but note SIGTERM and stop.
  LaunchOptions options = shell(3,
                                "if [ $RANK = 1 ]; then sleep 0.2; exit 7; fi; "
                                "trap 'echo term > $D/term_$RANK; kill $!; exit 143' TERM; "
                                "sleep 30 & wait $!",
                                dir);
  options.grace = std::chrono::milliseconds(300);
  auto start = Clock::now();
  EXPECT_EQ(launch_local(options), 7);
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.5);  // 0.2 s before the failure + the 0.3 s grace
  EXPECT_LT(elapsed, 10.0);
  EXPECT_EQ(slurp(dir / "term_0"), "term\n");
  EXPECT_EQ(slurp(dir / "term_2"), "term\n");
}

TEST(Launch, KillsRanksThatIgnoreSigterm) {
  testing::TempDir dir;
  LaunchOptions options = shell(2, "if [ $RANK = 1 ]; then exit 5; fi; trap '' TERM; sleep 3", dir);
  options.grace = std::chrono::milliseconds(200);
  auto start = Clock::now();
  EXPECT_EQ(launch_local(options), 5);
  EXPECT_LT(seconds_since(start), 2.5);
}

TEST(Launch, ARankKilledBySignalReports128PlusSignal) {
  testing::TempDir dir;
  LaunchOptions options = shell(2, "if [ $RANK = 0 ]; then kill -9 $$; fi; exit 0", dir);
  EXPECT_EQ(launch_local(options), 128 + 9);
}

// Runs launch_local(options) in a child process (two ranks whose shells write $D/ready_RANK
// first), sends `signal` to that child once both are ready and waiting, and gives its exit code.
void launch_then_signal(const LaunchOptions& options, const testing::TempDir& dir, int signal,
                        int& exit_code) {
  pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    int code = 99;
    try {
      code = launch_local(options);
    } catch (...) {
    }
    ::_exit(code);
  }
  auto start = Clock::now();
  while (!(std::filesystem::exists(dir / "ready_0") && std::filesystem::exists(dir / "ready_1"))) {
    ASSERT_LT(seconds_since(start), 20.0) << "ranks did not start";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the shells reach `wait`
  ::kill(launcher, signal);
  int status = 0;
  ASSERT_EQ(::waitpid(launcher, &status, 0), launcher);
  ASSERT_TRUE(WIFEXITED(status));
  exit_code = WEXITSTATUS(status);
}

TEST(Launch, ForwardsSigtermToTheRanks) {
  testing::TempDir dir;
  LaunchOptions options = shell(2,
                                "trap 'echo got > $D/sig_$RANK; kill $!; exit 0' TERM; "
                                "echo > $D/ready_$RANK; sleep 20 & wait $!",
                                dir);
  auto start = Clock::now();
  int code = -1;
  ASSERT_NO_FATAL_FAILURE(launch_then_signal(options, dir, SIGTERM, code));
  EXPECT_EQ(code, 0);  // the ranks stopped cleanly
  EXPECT_EQ(slurp(dir / "sig_0"), "got\n");
  EXPECT_EQ(slurp(dir / "sig_1"), "got\n");
  EXPECT_LT(seconds_since(start), 15.0);
}

// Lines of a file, in order.
std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Launch, RestartsTheWholeGroupAfterAFailure) {
  testing::TempDir dir;
  // Every start appends "restart-count max-restarts port" per rank; rank 1 fails the first two
  // starts. Rank 0 would run for 30 s: it must be stopped (SIGTERM after the grace) each time
  // before the group starts again.
  LaunchOptions options = shell(2,
                                "echo $TORCHELASTIC_RESTART_COUNT $TORCHELASTIC_MAX_RESTARTS "
                                "$MASTER_PORT >> $D/starts_$RANK; "
                                "if [ $RANK = 1 ]; then [ $TORCHELASTIC_RESTART_COUNT = 2 ] && "
                                "exit 0; sleep 0.1; exit 5; fi; "
                                "[ $TORCHELASTIC_RESTART_COUNT = 2 ] && exit 0; "
                                "trap 'echo stopped >> $D/stopped; kill $!; exit 143' TERM; "
                                "sleep 30 & wait $!",
                                dir);
  options.master_port = 0;
  options.max_restarts = 2;
  options.grace = std::chrono::milliseconds(200);
  std::vector<std::string> said;
  options.log = [&](const std::string& line) { said.push_back(line); };
  auto start = Clock::now();
  EXPECT_EQ(launch_local(options), 0);
  EXPECT_LT(seconds_since(start), 15.0);
  const std::vector<std::string> rank0 = lines_of(dir / "starts_0"), rank1 = lines_of(dir / "starts_1");
  ASSERT_EQ(rank0.size(), 3u);
  ASSERT_EQ(rank1.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(rank0[k].substr(0, 4), std::to_string(k) + " 2 ") << rank0[k];
    EXPECT_EQ(rank0[k], rank1[k]) << "both ranks of a start share its port";
  }
  EXPECT_EQ(lines_of(dir / "stopped").size(), 2u);  // rank 0 of each failed start was stopped
  std::string all;
  for (const std::string& line : said) all += line + "\n";
  EXPECT_NE(all.find("rank 1 failed with exit code 5"), std::string::npos) << all;
  EXPECT_NE(all.find("(restart 1 of 2)"), std::string::npos) << all;
  EXPECT_NE(all.find("(restart 2 of 2)"), std::string::npos) << all;
}

TEST(Launch, GivesUpWhenTheRestartsAreUsedUp) {
  testing::TempDir dir;
  LaunchOptions options = shell(2, "echo x >> $D/starts_$RANK; [ $RANK = 0 ] && exit 0; exit 6", dir);
  options.max_restarts = 1;
  std::string said;
  options.log = [&](const std::string& line) { said += line + "\n"; };
  EXPECT_EQ(launch_local(options), 6);
  EXPECT_EQ(lines_of(dir / "starts_0").size(), 2u);
  EXPECT_EQ(lines_of(dir / "starts_1").size(), 2u);
  EXPECT_NE(said.find("restarts are used up"), std::string::npos) << said;
}

TEST(Launch, FinalExitCodesAreNotRestarted) {
  testing::TempDir dir;
  LaunchOptions options = shell(2, "echo x >> $D/starts_$RANK; exit 2", dir);
  options.max_restarts = 3;
  options.final_exit_codes = {2, 3};
  EXPECT_EQ(launch_local(options), 2);
  EXPECT_EQ(lines_of(dir / "starts_0").size(), 1u);
}

TEST(Launch, ASignalPassedOnIsNotRestarted) {
  testing::TempDir dir;
  // SIGUSR1 (Slurm's preemption warning) reaches the ranks, which stop with code 3 as glpdepth
  // train does; a stop that was asked for is not a failure to restart.
  LaunchOptions options = shell(2,
                                "trap 'kill $!; exit 3' USR1; echo x >> $D/ready_$RANK; "
                                "sleep 20 & wait $!",
                                dir);
  options.max_restarts = 2;
  int code = -1;
  ASSERT_NO_FATAL_FAILURE(launch_then_signal(options, dir, SIGUSR1, code));
  EXPECT_EQ(code, 3);
  EXPECT_EQ(lines_of(dir / "ready_0").size(), 1u);  // started once
  EXPECT_EQ(lines_of(dir / "ready_1").size(), 1u);
}

TEST(Launch, RejectsBadOptions) {
  testing::TempDir dir;
  LaunchOptions options = shell(0, "exit 0", dir);
  EXPECT_THROW(launch_local(options), Error);
  options = shell(1, "exit 0", dir);
  options.program = (dir / "missing").string();
  EXPECT_THROW(launch_local(options), Error);
  options = shell(1, "exit 0", dir);
  options.master_port = 70000;
  EXPECT_THROW(launch_local(options), Error);
  options = shell(1, "exit 0", dir);
  options.max_restarts = -1;
  EXPECT_THROW(launch_local(options), Error);
}

TEST(Launch, FreePortIsBindable) {
  int port = free_tcp_port();
  EXPECT_GT(port, 1023);
  EXPECT_LE(port, 65535);
}

}  // namespace
}  // namespace glpdepth::dist
