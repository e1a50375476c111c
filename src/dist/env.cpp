#include "glpdepth/dist/env.h"

#include <charconv>
#include <cstdlib>

#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

std::optional<long long> parse_int(const std::string& text) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// An integer variable, or nullopt when unset; throws naming the variable when it is set to
// something else.
std::optional<int> env_int(const EnvLookup& env, const std::string& name) {
  std::optional<std::string> text = env(name);
  if (!text) return std::nullopt;
  std::optional<long long> value = parse_int(*text);
  check(value.has_value() && *value >= INT32_MIN && *value <= INT32_MAX, "environment variable ",
        name, "='", *text, "' is not an integer");
  return static_cast<int>(*value);
}

std::optional<std::string> env_nonempty(const EnvLookup& env, const std::string& name) {
  std::optional<std::string> text = env(name);
  if (text && text->empty()) return std::nullopt;
  return text;
}

// "0-3,7" inside one pair of brackets -> the numbers with the padding of each range's start.
std::vector<std::string> expand_ranges(const std::string& inner, const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= inner.size()) {
    size_t comma = inner.find(',', start);
    if (comma == std::string::npos) comma = inner.size();
    std::string part = inner.substr(start, comma - start);
    size_t dash = part.find('-');
    std::string low = part.substr(0, dash);
    std::string high = dash == std::string::npos ? low : part.substr(dash + 1);
    auto lo = parse_int(low), hi = parse_int(high);
    check(lo && hi && *lo >= 0 && *hi >= *lo && *hi - *lo < 100000, "Slurm host list '", list,
          "': bad range '", part, "'");
    for (long long n = *lo; n <= *hi; ++n) {
      std::string digits = std::to_string(n);
      if (digits.size() < low.size()) digits.insert(0, low.size() - digits.size(), '0');
      out.push_back(digits);
    }
    start = comma + 1;
  }
  return out;
}

std::vector<std::string> expand_item(const std::string& item, const std::string& list) {
  size_t open = item.find('[');
  if (open == std::string::npos) {
    check(item.find(']') == std::string::npos, "Slurm host list '", list, "': unmatched ']'");
    return {item};
  }
  size_t close = item.find(']', open);
  check(close != std::string::npos, "Slurm host list '", list, "': unmatched '['");
  std::string prefix = item.substr(0, open);
  check(prefix.find(']') == std::string::npos, "Slurm host list '", list, "': unmatched ']'");
  std::vector<std::string> rests = expand_item(item.substr(close + 1), list);
  std::vector<std::string> out;
  for (const std::string& value : expand_ranges(item.substr(open + 1, close - open - 1), list)) {
    for (const std::string& rest : rests) out.push_back(prefix + value + rest);
  }
  return out;
}

// SLURM_TASKS_PER_NODE looks like "2(x3),1": tasks on each node in node order.
std::optional<int> tasks_on_node(const std::string& text, int node) {
  int index = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string part = text.substr(start, comma - start);
    long long repeat = 1;
    size_t paren = part.find("(x");
    if (paren != std::string::npos) {
      if (part.back() != ')') return std::nullopt;
      auto r = parse_int(part.substr(paren + 2, part.size() - paren - 3));
      if (!r) return std::nullopt;
      repeat = *r;
      part = part.substr(0, paren);
    }
    auto count = parse_int(part);
    if (!count) return std::nullopt;
    if (node < index + repeat) return static_cast<int>(*count);
    index += static_cast<int>(repeat);
    start = comma + 1;
  }
  return std::nullopt;
}

void check_placement(const DistEnv& env, const std::string& rank_name, const std::string& size_name,
                     const std::string& local_name) {
  check(env.world_size >= 1, "environment variable ", size_name, "=", env.world_size,
        " must be at least 1");
  check(env.rank >= 0 && env.rank < env.world_size, "environment variable ", rank_name, "=",
        env.rank, " is out of range for ", size_name, "=", env.world_size);
  check(env.local_rank >= 0 && env.local_rank <= env.rank, "environment variable ", local_name, "=",
        env.local_rank, " is inconsistent with ", rank_name, "=", env.rank);
  check(env.local_world_size >= 1 && env.local_world_size <= env.world_size, "local process count ",
        env.local_world_size, " is inconsistent with ", size_name, "=", env.world_size);
  check(env.local_rank < env.local_world_size, "environment variable ", local_name, "=",
        env.local_rank, " is not below the local process count ", env.local_world_size);
}

int master_port(const EnvLookup& env, const DetectOptions& options) {
  std::optional<int> port = env_int(env, "MASTER_PORT");
  if (port) {
    check(*port >= 1 && *port <= 65535, "environment variable MASTER_PORT=", *port,
          " is not a TCP port (1..65535)");
    return *port;
  }
  check(options.default_port >= 1 && options.default_port <= 65535, "rendezvous port ",
        options.default_port, " is not a TCP port (1..65535)");
  return options.default_port;
}

DistEnv from_torchrun(const EnvLookup& env, const DetectOptions& options) {
  std::optional<int> rank = env_int(env, "RANK");
  std::optional<int> world = env_int(env, "WORLD_SIZE");
  check(rank.has_value(), "environment variable RANK is unset while WORLD_SIZE is set (torchrun ",
        "sets both)");
  check(world.has_value(), "environment variable WORLD_SIZE is unset while RANK is set ",
        "(torchrun sets both)");
  DistEnv out;
  out.source = "torchrun";
  if (std::optional<std::string> agent = env_nonempty(env, "TORCHELASTIC_USE_AGENT_STORE"))
    out.agent_store = *agent == "True" || *agent == "true" || *agent == "1";
  out.rank = *rank;
  out.world_size = *world;
  // Without LOCAL_RANK the ranks are assumed to share one machine, the only layout where
  // guessing cannot pick a wrong GPU on a second machine.
  std::optional<int> local = env_int(env, "LOCAL_RANK");
  std::optional<int> local_world = env_int(env, "LOCAL_WORLD_SIZE");
  out.local_rank = local.value_or(out.rank);
  out.local_world_size = local_world.value_or(out.world_size);
  check_placement(out, "RANK", "WORLD_SIZE", "LOCAL_RANK");
  std::optional<std::string> addr = env_nonempty(env, "MASTER_ADDR");
  check(addr.has_value() || out.world_size == 1, "environment variable MASTER_ADDR is unset but ",
        "WORLD_SIZE=", out.world_size, " needs a rendezvous address");
  if (addr) out.master_addr = *addr;
  out.master_port = master_port(env, options);
  return out;
}

DistEnv from_slurm(const EnvLookup& env, const DetectOptions& options) {
  std::optional<int> rank = env_int(env, "SLURM_PROCID");
  std::string size_name = env("SLURM_NTASKS") ? "SLURM_NTASKS" : "SLURM_NPROCS";
  std::optional<int> world = env_int(env, size_name);
  check(world.has_value(), "environment variable SLURM_NTASKS is unset while SLURM_PROCID is set ",
        "(srun sets both)");
  DistEnv out;
  out.source = "slurm";
  out.rank = *rank;
  out.world_size = *world;
  out.local_rank = env_int(env, "SLURM_LOCALID").value_or(out.rank);
  out.local_world_size = out.world_size;
  if (std::optional<std::string> per_node = env_nonempty(env, "SLURM_TASKS_PER_NODE")) {
    int node = env_int(env, "SLURM_NODEID").value_or(0);
    if (std::optional<int> count = tasks_on_node(*per_node, node)) out.local_world_size = *count;
  }
  check_placement(out, "SLURM_PROCID", size_name, "SLURM_LOCALID");
  if (std::optional<std::string> addr = env_nonempty(env, "MASTER_ADDR")) {
    out.master_addr = *addr;
  } else {
    // Task 0 runs on the first node of its step, which is the job's first node unless the step
    // uses a subset of the allocation.
    std::optional<std::string> list;
    for (const char* name : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
      if ((list = env_nonempty(env, name))) break;
    }
    check(list.has_value() || out.world_size == 1, "environment variables MASTER_ADDR and ",
          "SLURM_JOB_NODELIST are both unset but ", size_name, "=", out.world_size,
          " needs a rendezvous address");
    if (list) out.master_addr = first_slurm_host(*list);
  }
  out.master_port = master_port(env, options);
  return out;
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

DistEnv detect_env(const EnvLookup& env, const DetectOptions& options) {
  if (env("RANK") || env("WORLD_SIZE")) return from_torchrun(env, options);
  if (env("SLURM_PROCID")) return from_slurm(env, options);
  DistEnv out;
  out.master_port = master_port(env, options);
  return out;
}

DistEnv detect_env(const DetectOptions& options) {
  return detect_env(process_env(), options);
}

int local_device_index(const DistEnv& env, int device_count) {
  check(device_count > 0, "distributed: rank ", env.rank, " sees no GPU");
  return env.local_rank % device_count;
}

std::vector<std::string> expand_slurm_nodelist(const std::string& list) {
  std::vector<std::string> hosts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    char c = i < list.size() ? list[i] : ',';
    if (c == '[') {
      check(depth == 0, "Slurm host list '", list, "': nested '['");
      ++depth;
    } else if (c == ']') {
      check(depth == 1, "Slurm host list '", list, "': unmatched ']'");
      --depth;
    } else if (c == ',' && depth == 0) {
      std::string item = list.substr(start, i - start);
      check(!item.empty(), "Slurm host list '", list, "': empty host name");
      for (std::string& host : expand_item(item, list)) hosts.push_back(std::move(host));
      start = i + 1;
    }
  }
  check(depth == 0, "Slurm host list '", list, "': unmatched '['");
  return hosts;
}

std::string first_slurm_host(const std::string& list) {
  std::vector<std::string> hosts = expand_slurm_nodelist(list);
  check(!hosts.empty(), "Slurm host list '", list, "' names no host");
  return hosts.front();
}

}  // namespace glpdepth::dist
