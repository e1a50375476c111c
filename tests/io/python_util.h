// Running small PyTorch scripts from the io tests (GLPDEPTH_TEST_PYTHON must have torch).
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace glpdepth::testing {

// True when the test Python can import torch (checked once).
inline bool python_has_torch() {
  static const bool available = [] {
    std::string python = GLPDEPTH_TEST_PYTHON;
    if (python.empty() || !std::filesystem::exists(python)) return false;
    std::string command = "'" + python + "' -c 'import torch' > /dev/null 2>&1";
    return std::system(command.c_str()) == 0;
  }();
  return available;
}

#define GLPDEPTH_REQUIRE_PYTHON_TORCH()                                                   \
  do {                                                                                    \
    if (!::glpdepth::testing::python_has_torch()) {                                       \
      GTEST_SKIP() << "no Python with torch at '" GLPDEPTH_TEST_PYTHON "': skipping the " \
                      "PyTorch interoperability check";                                   \
    }                                                                                     \
  } while (0)

// Writes `script` into `dir` and runs it there with the folder as its only argument; returns
// true on exit status 0. The script's output goes to *log.
inline bool run_python(const std::filesystem::path& dir, const std::string& script,
                       std::string* log = nullptr) {
  static int counter = 0;
  auto file = dir / ("script_" + std::to_string(counter++) + ".py");
  auto output = dir / "python.log";
  {
    std::ofstream out(file);
    out << "import sys, os, io, struct, json, collections\nimport torch\n"
        << "D = sys.argv[1]\n"
        << script;
  }
  std::string command = "cd '" + dir.string() + "' && '" + std::string(GLPDEPTH_TEST_PYTHON) +
                        "' '" + file.string() + "' '" + dir.string() + "' > '" +
                        output.string() + "' 2>&1";
  int rc = std::system(command.c_str());
  std::ifstream in(output);
  std::stringstream text;
  text << in.rdbuf();
  if (log) *log = text.str();
  if (rc != 0) ADD_FAILURE() << "python failed (" << rc << "):\n" << text.str();
  return rc == 0;
}

}  // namespace glpdepth::testing
