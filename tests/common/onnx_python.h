// Checking exported ONNX models with tools that are not ours: ONNX Runtime (PyPI's, in the test
// virtual environment made by scripts/make-venv.sh, or Debian 13's python3-onnxruntime) and the
// onnx package's checker (Debian's python3-onnx, else the virtual environment's onnx).
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace glpdepth::testing {

// The first of `pythons` that exists and imports `module`, or "" (checked once per module).
inline std::string python_with_module(const std::string& module,
                                      std::initializer_list<const char*> pythons) {
  for (const char* python : pythons) {
    if (!python || !*python || !std::filesystem::exists(python)) continue;
    const std::string command =
        std::string("'") + python + "' -c 'import " + module + "' > /dev/null 2>&1";
    if (std::system(command.c_str()) == 0) return python;
  }
  return "";
}

// Python with onnxruntime: the test virtual environment first (the pinned PyPI version), then
// Debian's python3 (Debian 13 packages python3-onnxruntime).
inline const std::string& onnxruntime_python() {
  static const std::string python =
      python_with_module("onnxruntime", {GLPDEPTH_TEST_VENV_PYTHON, GLPDEPTH_TEST_PYTHON});
  return python;
}

// Python with the onnx package: Debian's python3-onnx first (the checker the issue names), then
// the virtual environment's.
inline const std::string& onnx_checker_python() {
  static const std::string python =
      python_with_module("onnx", {GLPDEPTH_TEST_PYTHON, GLPDEPTH_TEST_VENV_PYTHON});
  return python;
}

#define GLPDEPTH_REQUIRE_ONNXRUNTIME()                                                        \
  do {                                                                                        \
    if (::glpdepth::testing::onnxruntime_python().empty()) {                                  \
      GTEST_SKIP() << "no Python with onnxruntime (neither " GLPDEPTH_TEST_VENV_PYTHON        \
                      " from scripts/make-venv.sh nor " GLPDEPTH_TEST_PYTHON                  \
                      " with Debian 13's python3-onnxruntime): ONNX Runtime check skipped";   \
    }                                                                                         \
  } while (0)

// Runs `python script args...` (arguments single-quoted), output into `log`; returns the exit code.
inline int run_python_script(const std::string& python, const std::filesystem::path& script,
                             const std::vector<std::string>& args, std::string& log) {
  const auto log_file =
      std::filesystem::temp_directory_path() / ("glpdepth-python-" + std::to_string(::getpid()) + ".log");
  std::string command = "'" + python + "' '" + script.string() + "'";
  for (const auto& arg : args) command += " '" + arg + "'";
  command += " > '" + log_file.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log_file);
  std::stringstream text;
  text << in.rdbuf();
  log = text.str();
  std::filesystem::remove(log_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Scripts in tests/deploy/.
inline std::filesystem::path deploy_script(const std::string& name) {
  return std::filesystem::path(GLPDEPTH_SOURCE_DIR) / "tests" / "deploy" / name;
}

// onnx.checker.check_model(full_check=True) on each model; ADD_FAILUREs with the checker's
// words. Returns what ran ("" when no onnx package was found: then nothing is checked).
inline std::string check_onnx_models(const std::vector<std::string>& models) {
  const std::string& python = onnx_checker_python();
  if (python.empty()) return "";
  std::string log;
  const int code = run_python_script(python, deploy_script("check_onnx_models.py"), models, log);
  if (code != 0) ADD_FAILURE() << "onnx.checker rejected a model (" << python << "):\n" << log;
  return log;
}

// Runs `model` in ONNX Runtime on each input .npy, writing the output .npy next to the given
// name: pairs {input, output}. Returns the runtime's report line; ADD_FAILUREs on errors.
inline std::string run_onnxruntime(const std::string& model,
                                   const std::vector<std::pair<std::string, std::string>>& runs) {
  std::vector<std::string> args = {model};
  for (const auto& [input, output] : runs) {
    args.push_back(input);
    args.push_back(output);
  }
  std::string log;
  const int code = run_python_script(onnxruntime_python(), deploy_script("run_onnx_model.py"), args, log);
  if (code != 0) ADD_FAILURE() << "ONNX Runtime failed on " << model << ":\n" << log;
  return log;
}

}  // namespace glpdepth::testing
