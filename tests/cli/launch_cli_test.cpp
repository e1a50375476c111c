// `glpdepth launch` end to end: the real binary starting ranks of itself.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <utility>

namespace {

// Runs the glpdepth binary with `args` (shell syntax); returns its exit code and stdout+stderr.
std::pair<int, std::string> run_cli(const std::string& args) {
  std::string command = std::string(GLPDEPTH_CLI_PATH) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(LaunchCli, StartsEveryRank) {
  auto [code, output] = run_cli("launch --nproc 2 --master_port 0 -- info --threads 1");
  EXPECT_EQ(code, 0) << output;
  EXPECT_EQ(count(output, "glpdepth 0.1.0 ("), 2) << output;
  EXPECT_EQ(count(output, "intra-op threads: 1\n"), 2) << output;
}

TEST(LaunchCli, ReturnsTheExitCodeOfAFailingRank) {
  // `info --threads x` is a usage error in both ranks: exit code 2, reported by the launcher.
  auto [code, output] = run_cli("launch --nproc 2 --master_port 0 --grace 1 -- info --threads x");
  EXPECT_EQ(code, 2) << output;
  EXPECT_EQ(count(output, "--threads"), 2) << output;
  EXPECT_NE(output.find("failed with exit code 2"), std::string::npos) << output;
}

TEST(LaunchCli, AUsageErrorIsNotRestarted) {
  // A restart cannot cure a usage error (2): one start, two messages, not three starts.
  auto [code, output] = run_cli("launch --nproc 2 --master_port 0 --grace 1 --max-restarts 2 -- info --threads x");
  EXPECT_EQ(code, 2) << output;
  EXPECT_EQ(count(output, "--threads"), 2) << output;
  EXPECT_EQ(count(output, "restarting"), 0) << output;
  std::tie(code, output) = run_cli("launch --nproc 1 --max_restarts -1 -- info");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("--max_restarts"), std::string::npos) << output;
}

TEST(LaunchCli, RejectsMissingCommandAndBadCounts) {
  auto [code, output] = run_cli("launch --nproc 2");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("after --"), std::string::npos) << output;
  std::tie(code, output) = run_cli("launch --nproc 0 -- info");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("--nproc"), std::string::npos) << output;
}

}  // namespace
