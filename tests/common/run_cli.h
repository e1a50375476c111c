// Runs the glpdepth binary for end-to-end tests.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

#include "common/temp_dir.h"
#include "glpdepth/util/atomic_file.h"

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

struct CliRun {
  int code;
  std::string out, err;
};

// Runs `glpdepth <args>` with stdout and stderr kept apart (in files under `scratch`); with
// `cwd`, in that folder (where relative default outputs such as ./logs then land).
inline CliRun run_glpdepth_split(const std::filesystem::path& scratch, const std::string& args,
                                 const std::filesystem::path& cwd = {}) {
  const std::filesystem::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  std::string command = (cwd.empty() ? std::string() : "cd '" + cwd.string() + "' && ") +
                        std::string(GLPDEPTH_CLI_PATH) + " " + args + " > " + out.string() +
                        " 2> " + err.string();
  int status = std::system(command.c_str());
  CliRun run{WIFEXITED(status) ? WEXITSTATUS(status) : -1, "", ""};
  run.out = read_file_bytes(out);
  run.err = read_file_bytes(err);
  return run;
}

// run_glpdepth_split with its output files in `scratch`.
inline CliRun run_cli(const TempDir& scratch, const std::string& args) {
  return run_glpdepth_split(scratch.path(), args);
}

}  // namespace glpdepth::testing
