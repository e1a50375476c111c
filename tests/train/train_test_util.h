// Helpers shared by the train tests: a temporary folder and running the test Python.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "common/temp_dir.h"

namespace glpdepth::test {

using TempDir = ::glpdepth::testing::TempDir;

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The Python with torch, or "" when it is missing.
inline std::string test_python() {
  const std::string python = GLPDEPTH_TEST_PYTHON;
  if (python.empty() || !std::filesystem::exists(python)) return "";
  return python;
}

// Runs `script` (written to dir/name) with the test Python and the given argument; returns its
// stdout. Fails the test (and returns "") when Python exits non-zero.
inline std::string run_python(const std::filesystem::path& dir, const std::string& name,
                              const std::string& script, const std::string& args = "") {
  const auto script_path = dir / name;
  write_text(script_path, script);
  const auto out_path = dir / (name + ".out");
  const auto err_path = dir / (name + ".err");
  const std::string command = "'" + test_python() + "' '" + script_path.string() + "' " + args +
                              " > '" + out_path.string() + "' 2> '" + err_path.string() + "'";
  const int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << command << "\n" << read_text(err_path);
  if (rc != 0) return "";
  return read_text(out_path);
}

inline bool python_has_torch() {
  static int has = -1;
  if (has < 0) {
    const std::string python = test_python();
    has = !python.empty() &&
          std::system(("'" + python + "' -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
  }
  return has == 1;
}

}  // namespace glpdepth::test
