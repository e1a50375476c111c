#include "glpdepth/dist/group.h"

#include <c10/util/Exception.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>

#include "glpdepth/util/error.h"

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

Backend parse_backend(const std::string& name) {
  if (name == "gloo") return Backend::kGloo;
  if (name == "nccl") return Backend::kNccl;
  throw UsageError(cat("--dist-backend: '", name, "' is not one of gloo, nccl"));
}

std::string backend_name(Backend backend) {
  return backend == Backend::kNccl ? "nccl" : "gloo";
}

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

namespace {

class SingleGroup final : public Group {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
  Backend backend() const override { return Backend::kGloo; }
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

class C10dGroup final : public Group {
 public:
  C10dGroup(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<C10dBackend> backend,
            Backend kind, torch::Device device, std::chrono::milliseconds timeout)
      : store_(std::move(store)),
        backend_(std::move(backend)),
        kind_(kind),
        device_(device),
        timeout_(timeout) {}

  int rank() const override { return backend_->getRank(); }
  int size() const override { return backend_->getSize(); }
  torch::Device device() const override { return device_; }
  Backend backend() const override { return kind_; }

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
    Work(std::string failure, c10::intrusive_ptr<c10d::Work> work)
        : failure_(std::move(failure)), work_(std::move(work)) {}
    void wait() override {
      try {
        work_->wait();
      } catch (const std::exception& e) {
        throw Error(failure_ + describe(e));
      }
    }

   private:
    std::string failure_;
    c10::intrusive_ptr<c10d::Work> work_;
  };

  template <typename Launch>
  std::unique_ptr<Pending> start(const std::string& what, Launch launch) {
    std::string failure = cat("distributed ", what, " failed on rank ", rank(), " of ", size(),
                              " (another rank stopped, or nothing arrived within the ",
                              timeout_.count() / 1000.0, " s timeout): ");
    try {
      return std::make_unique<Work>(std::move(failure), launch());
    } catch (const std::exception& e) {
      throw Error(failure + describe(e));
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<C10dBackend> backend_;
  Backend kind_;
  torch::Device device_;
  std::chrono::milliseconds timeout_;
};

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

#endif  // GLPDEPTH_HAVE_C10D

}  // namespace

std::shared_ptr<Group> Group::single() {
  return std::make_shared<SingleGroup>();
}

std::shared_ptr<Group> Group::create(const DistEnv& env, const GroupOptions& options) {
  check(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size, "distributed: rank ",
        env.rank, " is out of range for world size ", env.world_size);
  if (env.world_size == 1 && !options.c10d_for_one) return single();
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
    store_options.isServer = env.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(env.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = options.timeout;
    auto store = make_tcp_store(env.master_addr, store_options);

#if defined(GLPDEPTH_HAVE_NCCL) && defined(USE_C10D_NCCL)
    if (options.backend == Backend::kNccl) {
      // NCCL takes the GPU from the tensors, but barrier() and communicator setup use the
      // current device.
      auto index = static_cast<c10::DeviceIndex>(
          local_device_index(env, static_cast<int>(c10::cuda::device_count())));
      c10::cuda::set_device(index);
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size,
                                                                 nccl_options);
      return std::make_shared<C10dGroup>(store, backend, Backend::kNccl,
                                         torch::Device(torch::kCUDA, index), options.timeout);
    }
#endif
#if defined(GLPDEPTH_HAVE_GLOO)
    std::string interface = options.interface;
    if (interface.empty()) {
      if (const char* name = std::getenv("GLOO_SOCKET_IFNAME")) interface = name;
    }
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
    return std::make_shared<C10dGroup>(store, backend, Backend::kGloo, torch::kCPU,
                                       options.timeout);
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
