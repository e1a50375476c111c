#include "glpdepth/dist/launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

// Restores the previous SIGINT/SIGTERM handlers when launch_local returns or throws.
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
  }
  ~SignalForwarding() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Everything a child needs, built before fork: after fork only async-signal-safe calls are made.
struct ChildPlan {
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  std::vector<char*> argv;
};

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
  auto say = [&](const std::string& text) {
    if (options.log) options.log(text);
  };
  std::string program = options.program;
  if (program.empty()) program = std::filesystem::read_symlink("/proc/self/exe").string();
  check(::access(program.c_str(), X_OK) == 0, "launch: program ", program, " is not executable");
  int port = options.master_port == 0 ? free_tcp_port() : options.master_port;

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
  for (const auto& [key, value] : options.extra_env) base[key] = value;

  std::vector<std::string> args_storage{program};
  args_storage.insert(args_storage.end(), options.args.begin(), options.args.end());
  std::vector<ChildPlan> plans(options.nproc);
  for (int rank = 0; rank < options.nproc; ++rank) {
    std::map<std::string, std::string> env = base;
    env["RANK"] = std::to_string(rank);
    env["LOCAL_RANK"] = std::to_string(rank);
    ChildPlan& plan = plans[rank];
    for (const auto& [key, value] : env) plan.env_storage.push_back(key + "=" + value);
    for (std::string& entry : plan.env_storage) plan.envp.push_back(entry.data());
    plan.envp.push_back(nullptr);
    for (std::string& arg : args_storage) plan.argv.push_back(arg.data());
    plan.argv.push_back(nullptr);
  }

  SignalForwarding forwarding;
  std::vector<pid_t> pids(options.nproc, -1);
  std::vector<bool> running(options.nproc, false);
  auto signal_running = [&](int signal) {
    for (int rank = 0; rank < options.nproc; ++rank) {
      if (running[rank]) ::kill(pids[rank], signal);
    }
  };

  const pid_t parent = ::getpid();
  for (int rank = 0; rank < options.nproc; ++rank) {
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
      signal_running(SIGTERM);
      for (int r = 0; r < rank; ++r) ::waitpid(pids[r], nullptr, 0);
      throw Error(cat("launch: cannot start rank ", rank, ": ", std::strerror(error)));
    }
    pids[rank] = pid;
    running[rank] = true;
  }

  using Clock = std::chrono::steady_clock;
  int alive = options.nproc;
  int first_failure = 0;
  Clock::time_point failed_at{}, terminated_at{};
  bool failed = false, terminated = false, killed = false;
  while (alive > 0) {
    bool reaped = false;
    for (int rank = 0; rank < options.nproc; ++rank) {
      if (!running[rank]) continue;
      int status = 0;
      pid_t done = ::waitpid(pids[rank], &status, WNOHANG);
      if (done == 0 || (done < 0 && errno == EINTR)) continue;
      running[rank] = false;
      --alive;
      reaped = true;
      int code = done < 0 ? 1 : exit_code(status);
      if (code != 0 && !failed) {
        failed = true;
        first_failure = code;
        failed_at = Clock::now();
        if (alive > 0) {
          say(cat("launch: rank ", rank, " failed with exit code ", code, "; the other ranks get ",
                  std::chrono::duration<double>(options.grace).count(), " s to stop"));
        }
      }
    }
    if (int signal = g_pending_signal) {
      g_pending_signal = 0;
      say(cat("launch: passing signal ", signal, " on to the ranks"));
      signal_running(signal);
    }
    Clock::time_point now = Clock::now();
    if (failed && !terminated && alive > 0 && now - failed_at >= options.grace) {
      say("launch: terminating the remaining ranks");
      signal_running(SIGTERM);
      terminated = true;
      terminated_at = now;
    }
    if (terminated && !killed && alive > 0 && now - terminated_at >= options.grace) {
      say("launch: killing the remaining ranks");
      signal_running(SIGKILL);
      killed = true;
    }
    if (alive > 0 && !reaped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return first_failure;
}

}  // namespace glpdepth::dist
