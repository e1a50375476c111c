// Runs the glpdepth binary for end-to-end tests.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <utility>

namespace glpdepth::testing {

// Runs `glpdepth <args>` through the shell (stderr merged into the output); returns the exit code
// and everything printed.
inline std::pair<int, std::string> run_glpdepth(const std::string& args) {
  std::string command = std::string(GLPDEPTH_CLI_PATH) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, output};
}

}  // namespace glpdepth::testing
