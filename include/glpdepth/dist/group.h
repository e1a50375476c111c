// A c10d process group (Gloo on CPU, NCCL on CUDA) behind a small interface that keeps c10d's
// headers out of the callers. A group of one needs no c10d at all: every collective is then the
// identity, so training code calls them unconditionally.
#pragma once
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "glpdepth/dist/env.h"
#include "glpdepth/util/names.h"

namespace glpdepth::dist {

// kAuto: default_backend(device), resolved before a group is created.
enum class Backend { kAuto, kGloo, kNccl };

const NameTable<Backend>& backend_names();  // auto, gloo, nccl
// A name of backend_names (any case; "" is auto, as configs before "auto" wrote it); throws
// UsageError listing the names otherwise.
Backend parse_backend(const std::string& name);
std::string backend_name(Backend backend);
// NCCL for CUDA devices, Gloo for the CPU.
Backend default_backend(const torch::Device& device);
// Whether this build can create a group of more than one process with `backend`.
bool backend_available(Backend backend);

struct GroupOptions {
  Backend backend = Backend::kGloo;
  // Bound on rendezvous and on every collective: a rank that died or hangs makes the others
  // throw Error after at most this long instead of waiting forever.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // Gloo: network interface to bind (else GLOO_SOCKET_IFNAME, else 127.0.0.1 when MASTER_ADDR is
  // a loopback address, else the address this host's name resolves to).
  std::string interface;
  // Gloo worker threads that run collectives.
  int threads = 2;
  // Build a real c10d group even for one process (checks that a backend works, e.g. NCCL on a
  // machine with one GPU); otherwise a group of one needs no c10d at all.
  bool c10d_for_one = false;
};

// Where a rank runs: its host name and the address it reaches the others from. Exchanged through
// the rendezvous store when the group is created, so that the error of a failed collective can
// name the peer that went away.
struct PeerInfo {
  std::string host;
  std::string address;  // IPv4/IPv6 text; "" when unknown (a group of one)
};

// "rank 1 on nodeB (10.0.0.2)"
std::string describe_peer(int rank, const PeerInfo& peer);

// A collective started with *_async; wait() rethrows its failure as Error.
class Pending {
 public:
  virtual ~Pending() = default;
  virtual void wait() = 0;
};

class Group {
 public:
  // Connects to the others through a TCPStore on env.master_addr:env.master_port that rank 0
  // hosts. Blocks until every rank joined or options.timeout passed. world_size 1 never touches
  // the network.
  static std::shared_ptr<Group> create(const DistEnv& env, const GroupOptions& options = {});
  // A group of one (the identity for every collective).
  static std::shared_ptr<Group> single();

  virtual ~Group() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_main() const { return rank() == 0; }
  // Where the tensors of collectives must live: the CPU for Gloo, cuda:LOCAL_RANK for NCCL.
  virtual torch::Device device() const = 0;
  virtual Backend backend() const = 0;
  // Every rank's host and address, indexed by rank (this process's own entry included).
  virtual const std::vector<PeerInfo>& peers() const = 0;

  // In place: every rank ends with the elementwise sum over ranks.
  virtual void allreduce_sum(torch::Tensor& tensor) = 0;
  // Starts the sum; `tensor` must stay alive and untouched until wait().
  virtual std::unique_ptr<Pending> allreduce_sum_async(torch::Tensor& tensor) = 0;
  // In place: every rank ends with root's values. Shapes and dtypes must agree across ranks.
  virtual void broadcast(torch::Tensor& tensor, int root = 0) = 0;
  virtual void barrier() = 0;

  // Sums of doubles (metric sums and counts): exact in the sense that ranks reduce sums, never
  // averages of averages.
  std::vector<double> allreduce_sum(const std::vector<double>& values);
  // Root's bytes on every rank (config JSON, run folder names); other ranks' input is ignored.
  std::string broadcast_string(const std::string& bytes, int root = 0);
};

}  // namespace glpdepth::dist
