// A command run in the background (its own process group) for tests that signal, kill or
// time processes: training runs killed at a step, launchers whose ranks die.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace glpdepth::testing {

class Background {
 public:
  // Runs `command` (shell syntax) with stdout and stderr into `log`. The shell execs the last
  // command, so pid() is that program's own (a signal sent to it reaches it, not a shell).
  Background(const std::string& command, const std::filesystem::path& log) : log_(log) {
    const std::string line = "exec " + command + " > '" + log.string() + "' 2>&1";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own group: the destructor kills every descendant at once
      ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && running()) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }

  bool running() {
    if (code_ != kRunning) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }

  // The exit code (128+N for signal N), or -1 when it still ran after `seconds` (then it and
  // its descendants are killed).
  int wait(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        code_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return code_;
  }

  std::string output() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  static constexpr int kRunning = -2;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int code_ = kRunning;
};

// Data rows of a CSV file (lines after the header); 0 when it does not exist yet.
inline int csv_rows(const std::filesystem::path& path) {
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines > 0 ? lines - 1 : 0;
}

// Polls until `done()` or `seconds` passed; returns whether done() came true.
template <typename Done>
bool wait_until(double seconds, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace glpdepth::testing
