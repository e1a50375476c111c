#include "glpdepth/dist/launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "glpdepth/util/error.h"

extern char** environ;

namespace glpdepth::dist {
namespace {

volatile sig_atomic_t g_pending_signal = 0;

void on_signal(int signal, siginfo_t* info, void*) {
  // The tty driver signals the whole foreground process group (si_code SI_KERNEL): the ranks
  // got this one themselves, and a second copy could turn a graceful stop into an abort.
  if (info && info->si_code == SI_KERNEL) return;
  g_pending_signal = signal;
}

// Restores the previous SIGINT/SIGTERM/SIGUSR1 handlers when launch_local returns or throws.
class SignalForwarding {
 public:
  SignalForwarding() {
    g_pending_signal = 0;
    struct sigaction action {};
    action.sa_sigaction = on_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    sigaction(SIGUSR1, &action, &old_usr1_);
  }
  ~SignalForwarding() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  struct sigaction old_usr1_ {};
};

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Everything a child needs, built before fork: after fork only async-signal-safe calls are made.
struct ChildPlan {
  std::vector<std::string> env_storage, args_storage;
  std::vector<char*> envp, argv;
  // Called once the plan sits where it stays: the pointers point into the storage.
  void point() {
    for (std::string& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);
    for (std::string& arg : args_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
  }
};

// The environment of one start of the group: this process's, torchrun's variables and
// options.extra_env, without the per-rank ones.
std::map<std::string, std::string> group_environment(const LaunchOptions& options, int port,
                                                     int restart) {
  std::map<std::string, std::string> base;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string text = *entry;
    size_t eq = text.find('=');
    if (eq != std::string::npos) base[text.substr(0, eq)] = text.substr(eq + 1);
  }
  base["WORLD_SIZE"] = std::to_string(options.nproc);
  base["LOCAL_WORLD_SIZE"] = std::to_string(options.nproc);
  base["GROUP_RANK"] = "0";
  base["MASTER_ADDR"] = options.master_addr;
  base["MASTER_PORT"] = std::to_string(port);
  base["TORCHELASTIC_RESTART_COUNT"] = std::to_string(restart);
  base["TORCHELASTIC_MAX_RESTARTS"] = std::to_string(options.max_restarts);
  for (const auto& [key, value] : options.extra_env) base[key] = value;
  return base;
}

std::vector<ChildPlan> make_plans(const LaunchOptions& options, const std::string& program,
                                  const std::map<std::string, std::string>& base) {
  std::vector<ChildPlan> plans(options.nproc);
  for (int rank = 0; rank < options.nproc; ++rank) {
    std::map<std::string, std::string> env = base;
    env["RANK"] = std::to_string(rank);
    env["LOCAL_RANK"] = std::to_string(rank);
    ChildPlan& plan = plans[rank];
    for (const auto& [key, value] : env) plan.env_storage.push_back(key + "=" + value);
    plan.args_storage.push_back(program);
    plan.args_storage.insert(plan.args_storage.end(), options.args.begin(), options.args.end());
  }
  for (ChildPlan& plan : plans) plan.point();
  return plans;
}

// The running ranks of one start of the group.
class Ranks {
 public:
  Ranks(std::vector<ChildPlan>& plans, const std::string& program) {
    const pid_t parent = ::getpid();
    for (size_t rank = 0; rank < plans.size(); ++rank) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(143);
        ::execve(program.c_str(), plans[rank].argv.data(), plans[rank].envp.data());
        static const char message[] = "launch: cannot execute the program\n";
        ssize_t ignored = ::write(2, message, sizeof(message) - 1);
        (void)ignored;
        ::_exit(127);
      }
      if (pid < 0) {
        int error = errno;
        signal_all(SIGTERM);
        for (pid_t started : pids_) ::waitpid(started, nullptr, 0);
        throw Error(cat("launch: cannot start rank ", rank, ": ", std::strerror(error)));
      }
      pids_.push_back(pid);
      running_.push_back(true);
    }
    alive_ = static_cast<int>(pids_.size());
  }

  int alive() const { return alive_; }

  void signal_all(int signal) {
    for (size_t rank = 0; rank < pids_.size(); ++rank)
      if (running_[rank]) ::kill(pids_[rank], signal);
  }

  // Reaps ranks that ended: calls ended(rank, exit code) for each; returns whether any did.
  template <typename Ended>
  bool reap(Ended ended) {
    bool any = false;
    for (size_t rank = 0; rank < pids_.size(); ++rank) {
      if (!running_[rank]) continue;
      int status = 0;
      pid_t done = ::waitpid(pids_[rank], &status, WNOHANG);
      if (done == 0 || (done < 0 && errno == EINTR)) continue;
      running_[rank] = false;
      --alive_;
      any = true;
      ended(static_cast<int>(rank), done < 0 ? 1 : exit_code(status));
    }
    return any;
  }

 private:
  std::vector<pid_t> pids_;
  std::vector<bool> running_;
  int alive_ = 0;
};

struct Outcome {
  int code = 0;          // the first failure's exit code, 0 when every rank succeeded
  int failed_rank = -1;
  bool forwarded = false;  // a signal was passed on: the stop was asked for
};

// Waits for every rank. After the first failure the others get options.grace to stop on their
// own, then SIGTERM, then as long again before SIGKILL.
Outcome supervise(const LaunchOptions& options, Ranks& ranks,
                  const std::function<void(const std::string&)>& say) {
  using Clock = std::chrono::steady_clock;
  Outcome outcome;
  Clock::time_point failed_at{}, terminated_at{};
  bool failed = false, terminated = false, killed = false;
  while (ranks.alive() > 0) {
    const bool reaped = ranks.reap([&](int rank, int code) {
      if (code == 0 || failed) return;
      failed = true;
      outcome = {code, rank, outcome.forwarded};
      failed_at = Clock::now();
      if (ranks.alive() > 0)
        say(cat("launch: rank ", rank, " failed with exit code ", code, "; the other ranks get ",
                std::chrono::duration<double>(options.grace).count(), " s to stop"));
    });
    if (int signal = g_pending_signal) {
      g_pending_signal = 0;
      outcome.forwarded = true;
      say(cat("launch: passing signal ", signal, " on to the ranks"));
      ranks.signal_all(signal);
    }
    const Clock::time_point now = Clock::now();
    if (failed && !terminated && ranks.alive() > 0 && now - failed_at >= options.grace) {
      say("launch: terminating the remaining ranks");
      ranks.signal_all(SIGTERM);
      terminated = true;
      terminated_at = now;
    }
    if (terminated && !killed && ranks.alive() > 0 && now - terminated_at >= options.grace) {
      say("launch: killing the remaining ranks");
      ranks.signal_all(SIGKILL);
      killed = true;
    }
    if (ranks.alive() > 0 && !reaped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return outcome;
}

// Whether a failed start ends the launch: no restarts left, a stop that was asked for, or an
// exit code a restart cannot cure.
bool final_outcome(const LaunchOptions& options, const Outcome& outcome, int restart) {
  if (outcome.code == 0 || outcome.forwarded || restart >= options.max_restarts) return true;
  const auto& final_codes = options.final_exit_codes;
  return std::find(final_codes.begin(), final_codes.end(), outcome.code) != final_codes.end();
}

}  // namespace

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  check(fd >= 0, "launch: cannot create a socket: ", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  int error = errno;
  ::close(fd);
  check(ok, "launch: cannot find a free TCP port: ", std::strerror(error));
  return ntohs(address.sin_port);
}

int launch_local(const LaunchOptions& options) {
  check(options.nproc >= 1, "--nproc: ", options.nproc, " must be at least 1");
  check(options.master_port >= 0 && options.master_port <= 65535,
        "--master_port: ", options.master_port, " is not a TCP port (0 picks a free one)");
  check(options.max_restarts >= 0, "--max_restarts: ", options.max_restarts, " must be >= 0");
  auto say = [&](const std::string& text) {
    if (options.log) options.log(text);
  };
  std::string program = options.program;
  if (program.empty()) program = std::filesystem::read_symlink("/proc/self/exe").string();
  check(::access(program.c_str(), X_OK) == 0, "launch: program ", program, " is not executable");

  SignalForwarding forwarding;
  for (int restart = 0;; ++restart) {
    // A fresh port per start: the previous group's store may linger in TIME_WAIT.
    const int port = options.master_port == 0 ? free_tcp_port() : options.master_port;
    std::vector<ChildPlan> plans = make_plans(options, program, group_environment(options, port, restart));
    Ranks ranks(plans, program);
    const Outcome outcome = supervise(options, ranks, say);
    if (final_outcome(options, outcome, restart)) {
      if (outcome.code != 0 && options.max_restarts > 0 && restart >= options.max_restarts)
        say(cat("launch: rank ", outcome.failed_rank, " failed with exit code ", outcome.code,
                " and all ", options.max_restarts, " restarts are used up; giving up"));
      return outcome.code;
    }
    say(cat("launch: rank ", outcome.failed_rank, " failed with exit code ", outcome.code,
            "; every rank has stopped; restarting all ", options.nproc, " ranks (restart ",
            restart + 1, " of ", options.max_restarts, ")"));
  }
}

}  // namespace glpdepth::dist
