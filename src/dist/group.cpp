#include "glpdepth/dist/group.h"

#include <arpa/inet.h>
#include <c10/util/Exception.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>
#include <torch/version.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

#if defined(GLPDEPTH_HAVE_GLOO) || defined(GLPDEPTH_HAVE_NCCL)
#define GLPDEPTH_HAVE_C10D 1
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if defined(GLPDEPTH_HAVE_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(GLPDEPTH_HAVE_NCCL) && defined(USE_C10D_NCCL)
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace glpdepth::dist {

const NameTable<Backend>& backend_names() {
  static const NameTable<Backend> names = {
      {"auto", Backend::kAuto}, {"gloo", Backend::kGloo}, {"nccl", Backend::kNccl}};
  return names;
}

Backend parse_backend(const std::string& name) {
  if (name.empty()) return Backend::kAuto;
  return parse_name(backend_names(), to_lower(name), "distributed backend");
}

std::string backend_name(Backend backend) { return name_of(backend_names(), backend); }

Backend default_backend(const torch::Device& device) {
  return device.is_cuda() ? Backend::kNccl : Backend::kGloo;
}

bool backend_available(Backend backend) {
  if (backend == Backend::kGloo) {
#if defined(GLPDEPTH_HAVE_GLOO)
    return true;
#else
    return false;
#endif
  }
#if defined(GLPDEPTH_HAVE_NCCL) && defined(USE_C10D_NCCL)
  return true;
#else
  return false;
#endif
}

std::string describe_peer(int rank, const PeerInfo& peer) {
  std::string text = cat("rank ", rank, " on ", peer.host.empty() ? "an unknown host" : peer.host);
  if (!peer.address.empty()) text += cat(" (", peer.address, ")");
  return text;
}

namespace {

std::string local_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

class SingleGroup final : public Group {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
  Backend backend() const override { return Backend::kGloo; }
  const std::vector<PeerInfo>& peers() const override { return peers_; }
  void allreduce_sum(torch::Tensor&) override {}
  std::unique_ptr<Pending> allreduce_sum_async(torch::Tensor&) override {
    struct Done final : Pending {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(torch::Tensor&, int root) override {
    check(root == 0, "broadcast: root rank ", root, " is out of range for a group of one");
  }
  void barrier() override {}

 private:
  std::vector<PeerInfo> peers_{PeerInfo{local_host_name(), ""}};
};

#if defined(GLPDEPTH_HAVE_C10D)

// c10d errors carry a C++ backtrace nobody wants to read in a training log.
std::string describe(const std::exception& e) {
  if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

// Since 2.0 the backends (Gloo, NCCL) derive from c10d::Backend; before, from ProcessGroup.
#if TORCH_VERSION_MAJOR >= 2
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// Since 2.4 the TCPStore asks for its libuv backend by default, and LibTorch builds without
// libuv (Debian's 2.6) refuse to start instead of falling back. Every rank runs the same build,
// so every rank makes the same choice.
c10::intrusive_ptr<c10d::TCPStore> make_tcp_store(const std::string& host,
                                                  c10d::TCPStoreOptions options) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const std::exception& e) {
    if (!options.useLibUV || std::string(describe(e)).find("libuv") == std::string::npos) throw;
    options.useLibUV = false;
  }
#endif
  return c10::make_intrusive<c10d::TCPStore>(host, options);
}

std::string numeric_host(const sockaddr* address) {
  const socklen_t length =
      address->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  char text[NI_MAXHOST] = {};
  if (::getnameinfo(address, length, text, sizeof(text), nullptr, 0, NI_NUMERICHOST) != 0) return "";
  return text;
}

// The first address of a network interface (GLOO_SOCKET_IFNAME), IPv4 preferred.
std::string interface_address(const std::string& name) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string v4, v6;
  for (ifaddrs* entry = list; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr || name != entry->ifa_name) continue;
    if (entry->ifa_addr->sa_family == AF_INET && v4.empty()) v4 = numeric_host(entry->ifa_addr);
    if (entry->ifa_addr->sa_family == AF_INET6 && v6.empty()) v6 = numeric_host(entry->ifa_addr);
  }
  ::freeifaddrs(list);
  return v4.empty() ? v6 : v4;
}

// The source address this host uses towards host:port: connecting a UDP socket only picks the
// route, nothing is sent.
std::string route_address(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return "";
  std::string address;
  for (addrinfo* entry = found; entry && address.empty(); entry = entry->ai_next) {
    const int fd = ::socket(entry->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (::connect(fd, entry->ai_addr, entry->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0)
      address = numeric_host(reinterpret_cast<sockaddr*>(&local));
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return address;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// This rank's address as the others see it: the Gloo interface's, else the route to the
// rendezvous host.
PeerInfo local_peer(const DistEnv& env, const std::string& interface) {
  PeerInfo me{local_host_name(), ""};
  if (!interface.empty()) me.address = interface_address(interface);
  if (me.address.empty() && is_loopback(env.master_addr)) me.address = "127.0.0.1";
  if (me.address.empty()) me.address = route_address(env.master_addr, env.master_port);
  return me;
}

// Every rank publishes "host\naddress" under its rank and reads the others' (each get waits up
// to the store's timeout).
std::vector<PeerInfo> exchange_peers(c10d::Store& store, const DistEnv& env, const PeerInfo& me) {
  const std::string prefix = "glpdepth/peer/";
  const std::string mine = me.host + "\n" + me.address;
  store.set(prefix + std::to_string(env.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
  std::vector<PeerInfo> peers(static_cast<size_t>(env.world_size));
  for (int rank = 0; rank < env.world_size; ++rank) {
    const std::vector<uint8_t> bytes = store.get(prefix + std::to_string(rank));
    const std::string text(bytes.begin(), bytes.end());
    const size_t newline = text.find('\n');
    peers[rank].host = text.substr(0, newline);
    if (newline != std::string::npos) peers[rank].address = text.substr(newline + 1);
  }
  return peers;
}

// Whether `text` holds `address` as a whole word (10.0.0.2 is not in 10.0.0.21).
bool mentions_address(const std::string& text, const std::string& address) {
  if (address.empty()) return false;
  auto part_of_address = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.'; };
  for (size_t at = text.find(address); at != std::string::npos; at = text.find(address, at + 1)) {
    const size_t end = at + address.size();
    if ((at == 0 || !part_of_address(text[at - 1])) && (end == text.size() || !part_of_address(text[end])))
      return true;
  }
  return false;
}

// The words of a failed collective: where it failed, which peer it concerns (the one whose
// address c10d's message names, as Gloo's "Connection closed by peer [10.0.0.2]:port" does,
// else every other rank) and c10d's own message.
struct FailureReport {
  int rank = 0, size = 1;
  double timeout_seconds = 0;
  std::vector<PeerInfo> peers;

  std::string suspects(const std::string& message) const {
    std::vector<int> named, others;
    for (int r = 0; r < size; ++r) {
      if (r == rank) continue;
      others.push_back(r);
      if (mentions_address(message, peers[r].address)) named.push_back(r);
    }
    const std::vector<int>& list = named.empty() ? others : named;
    std::string text;
    const size_t shown = std::min<size_t>(list.size(), 8);
    for (size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + describe_peer(list[i], peers[list[i]]);
    if (list.size() > shown) text += cat(" and ", list.size() - shown, " more");
    return list.size() == 1 ? "the peer " + text : "one of the peers " + text;
  }

  Error operator()(const std::string& what, const std::exception& e) const {
    const std::string message = describe(e);
    const PeerInfo& me = peers[rank];
    return Error(cat("distributed ", what, " failed on rank ", rank, " of ", size, " (", me.host,
                     me.address.empty() ? "" : ", " + me.address, "): ", suspects(message),
                     " stopped, or nothing arrived within the ", timeout_seconds,
                     " s timeout: ", message));
  }
};

class C10dGroup final : public Group {
 public:
  C10dGroup(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<C10dBackend> backend,
            Backend kind, torch::Device device, std::chrono::milliseconds timeout,
            std::vector<PeerInfo> peers)
      : store_(std::move(store)),
        backend_(std::move(backend)),
        kind_(kind),
        device_(device),
        report_(std::make_shared<FailureReport>(FailureReport{
            backend_->getRank(), backend_->getSize(), timeout.count() / 1000.0, std::move(peers)})) {}

  int rank() const override { return backend_->getRank(); }
  int size() const override { return backend_->getSize(); }
  torch::Device device() const override { return device_; }
  Backend backend() const override { return kind_; }
  const std::vector<PeerInfo>& peers() const override { return report_->peers; }

  void allreduce_sum(torch::Tensor& tensor) override { allreduce_sum_async(tensor)->wait(); }

  std::unique_ptr<Pending> allreduce_sum_async(torch::Tensor& tensor) override {
    std::vector<at::Tensor> tensors{tensor};
    return start("allreduce", [&] { return backend_->allreduce(tensors); });
  }

  void broadcast(torch::Tensor& tensor, int root) override {
    check(root >= 0 && root < size(), "broadcast: root rank ", root, " is out of range for ",
          size(), " ranks");
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    start("broadcast", [&] { return backend_->broadcast(tensors, options); })->wait();
  }

  void barrier() override {
    start("barrier", [&] { return backend_->barrier(); })->wait();
  }

 private:
  class Work final : public Pending {
   public:
    Work(std::string what, std::shared_ptr<const FailureReport> report,
         c10::intrusive_ptr<c10d::Work> work, bool wait_for_release)
        : what_(std::move(what)),
          report_(std::move(report)),
          work_(std::move(work)),
          wait_for_release_(wait_for_release) {}
    void wait() override {
      try {
        work_->wait();
      } catch (const std::exception& e) {
        throw (*report_)(what_, e);
      }
      if (wait_for_release_) wait_until_the_only_reference();
    }

   private:
    // Gloo's worker thread drops its reference to a finished work, and with it the work's copy of
    // the tensors, just after waking us. Were that the last reference, the tensors' memory would
    // be freed on Gloo's thread after we read the result, ordered only by an atomic count inside
    // the uninstrumented libtorch (ThreadSanitizer reports it as a race: `make test-tsan`).
    // Waiting the few microseconds until ours is the only reference keeps every tensor freed by
    // the thread that used it. The bound only guards against a LibTorch that keeps finished
    // works longer.
    void wait_until_the_only_reference() const {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (work_.use_count() > 1 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::yield();
    }

    std::string what_;
    std::shared_ptr<const FailureReport> report_;
    c10::intrusive_ptr<c10d::Work> work_;
    bool wait_for_release_;
  };

  template <typename Launch>
  std::unique_ptr<Pending> start(const std::string& what, Launch launch) {
    try {
      return std::make_unique<Work>(what, report_, launch(), kind_ == Backend::kGloo);
    } catch (const std::exception& e) {
      throw (*report_)(what, e);
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<C10dBackend> backend_;
  Backend kind_;
  torch::Device device_;
  std::shared_ptr<const FailureReport> report_;
};

#if defined(GLPDEPTH_HAVE_NCCL) && defined(USE_C10D_NCCL)
std::shared_ptr<Group> create_nccl(const c10::intrusive_ptr<c10d::Store>& store, const DistEnv& env,
                                   const GroupOptions& options, std::vector<PeerInfo> peers) {
  // NCCL takes the GPU from the tensors, but barrier() and communicator setup use the current
  // device.
  auto index = static_cast<c10::DeviceIndex>(
      local_device_index(env, static_cast<int>(c10::cuda::device_count())));
  c10::cuda::set_device(index);
  auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
  nccl_options->timeout = options.timeout;
  auto backend =
      c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, nccl_options);
  return std::make_shared<C10dGroup>(store, backend, Backend::kNccl,
                                     torch::Device(torch::kCUDA, index), options.timeout,
                                     std::move(peers));
}
#endif

#if defined(GLPDEPTH_HAVE_GLOO)
std::shared_ptr<Group> create_gloo(const c10::intrusive_ptr<c10d::Store>& store, const DistEnv& env,
                                   const GroupOptions& options, const std::string& interface,
                                   std::vector<PeerInfo> peers) {
  std::shared_ptr<::gloo::transport::Device> device;
  if (!interface.empty()) {
    device = c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  } else if (is_loopback(env.master_addr)) {
    device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  } else {
    device = c10d::ProcessGroupGloo::createDefaultDevice();
  }
  auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
  gloo_options->devices.push_back(device);
  gloo_options->threads = std::max(1, options.threads);
  auto backend =
      c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, gloo_options);
  return std::make_shared<C10dGroup>(store, backend, Backend::kGloo, torch::kCPU, options.timeout,
                                     std::move(peers));
}
#endif

#endif  // GLPDEPTH_HAVE_C10D

}  // namespace

std::shared_ptr<Group> Group::single() {
  return std::make_shared<SingleGroup>();
}

std::shared_ptr<Group> Group::create(const DistEnv& env, const GroupOptions& options) {
  check(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size, "distributed: rank ",
        env.rank, " is out of range for world size ", env.world_size);
  if (env.world_size == 1 && !options.c10d_for_one) return single();
  check(options.backend != Backend::kAuto, "distributed: the backend is not resolved (auto)");
  check(backend_available(options.backend), "distributed: ", env.world_size, " processes need the ",
        backend_name(options.backend), " backend, which this build lacks",
        options.backend == Backend::kGloo
            ? " (install libgloo-dev and reconfigure, or run one process)"
            : " (it needs a CUDA build of LibTorch with NCCL; use --dist-backend gloo)");
  check(env.master_port >= 1 && env.master_port <= 65535, "distributed: port ", env.master_port,
        " is not a TCP port (1..65535)");
#if defined(GLPDEPTH_HAVE_C10D)
  const std::string where = cat(env.master_addr, ":", env.master_port);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0 && !env.agent_store;
    store_options.numWorkers = static_cast<std::size_t>(env.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = options.timeout;
    auto store = make_tcp_store(env.master_addr, store_options);
    std::string interface = options.interface;
    if (const char* name = std::getenv("GLOO_SOCKET_IFNAME"); interface.empty() && name)
      interface = name;
    std::vector<PeerInfo> peers = exchange_peers(*store, env, local_peer(env, interface));
#if defined(GLPDEPTH_HAVE_NCCL) && defined(USE_C10D_NCCL)
    if (options.backend == Backend::kNccl) return create_nccl(store, env, options, std::move(peers));
#endif
#if defined(GLPDEPTH_HAVE_GLOO)
    return create_gloo(store, env, options, interface, std::move(peers));
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(
        cat("distributed: rank ", env.rank, " of ", env.world_size, " could not join the group at ",
            where, " within ", options.timeout.count() / 1000.0, " s",
            env.source == "slurm" ? " (under Slurm every task must be started by srun)" : "", ": ",
            describe(e)));
  }
#endif
  throw Error("distributed: no usable backend in this build");
}

std::vector<double> Group::allreduce_sum(const std::vector<double>& values) {
  if (size() == 1 || values.empty()) return values;
  torch::Tensor tensor =
      torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(device());
  allreduce_sum(tensor);
  tensor = tensor.cpu().contiguous();
  const double* data = tensor.data_ptr<double>();
  return std::vector<double>(data, data + values.size());
}

std::string Group::broadcast_string(const std::string& bytes, int root) {
  if (size() == 1) return bytes;
  auto on_device = torch::TensorOptions().device(device());
  torch::Tensor length =
      torch::full({1}, static_cast<int64_t>(bytes.size()), on_device.dtype(torch::kInt64));
  broadcast(length, root);
  int64_t n = length.cpu().item<int64_t>();
  if (n == 0) return {};
  torch::Tensor data = torch::empty({n}, torch::kUInt8);
  if (rank() == root) std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  data = data.to(device());
  broadcast(data, root);
  data = data.cpu().contiguous();
  return std::string(reinterpret_cast<const char*>(data.data_ptr<uint8_t>()),
                     static_cast<size_t>(n));
}

}  // namespace glpdepth::dist
