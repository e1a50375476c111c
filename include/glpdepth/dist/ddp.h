// Data parallelism over a Group: the same starting weights everywhere, then gradients averaged
// over ranks after every backward, so every rank takes the same optimizer step.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "glpdepth/dist/group.h"

namespace glpdepth::dist {

constexpr int64_t kDefaultBucketBytes = 25ll << 20;

// Every parameter and buffer of `module` (recursively) takes rank root's values, so all ranks
// start identical whatever their seeds. Tensors are coalesced into buckets of one dtype.
void broadcast_module(Group& group, torch::nn::Module& module, int root = 0);
void broadcast_tensors(Group& group, const std::vector<torch::Tensor>& tensors, int root = 0);

// After backward, without overlap: flattens the gradients into buckets of about bucket_bytes,
// sums them over ranks and writes grad / world_size back. An undefined .grad counts as zeros
// (a parameter this rank did not use) and is defined afterwards, so ranks stay identical.
void allreduce_gradients(Group& group, const std::vector<torch::Tensor>& parameters,
                         int64_t bucket_bytes = kDefaultBucketBytes);

struct ReducerOptions {
  int64_t bucket_bytes = kDefaultBucketBytes;
  // Start each bucket's all-reduce from autograd hooks as soon as its last gradient is ready,
  // while backward goes on with earlier layers. false: one bucketed pass in finish().
  bool overlap = true;
};

// Averages gradients over ranks, overlapping communication with backward.
//
// Buckets hold parameters in reverse registration order (the order backward produces their
// gradients) and are started strictly in bucket order, which is the same on every rank, so the
// collectives match up even when gradients become ready in a different order on different ranks.
// A hook copies each incoming gradient into its bucket and hands autograd zeros in its place;
// finish() adds the averaged gradient to .grad. Hence .grad ends as (its value before backward)
// + (mean over ranks of this backward's gradient): zero_grad before backward gives plain DDP.
//
// Use: construct once after broadcast_module; per step: zero_grad, backward, finish(), clip,
// optimizer step. Exactly one backward per finish() (gradient accumulation over several
// backwards between finish() calls is not supported: the second backward throws Error).
class GradientReducer {
 public:
  GradientReducer(std::shared_ptr<Group> group, std::vector<torch::Tensor> parameters,
                  ReducerOptions options = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Starts the buckets that are still waiting (parameters without gradient this step count as
  // zeros), waits for all and updates .grad. Throws Error when a rank died or timed out.
  void finish();

  // Bucket layout, for tests and logs: indices into the parameters that require grad, per
  // bucket, in launch order. Empty for a group of one.
  std::vector<std::vector<size_t>> buckets() const;
  // Buckets whose all-reduce was started from a hook during the last backward (before finish).
  int64_t launched_during_backward() const { return launched_in_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t waiting = 0;
    bool ready = false;
    std::unique_ptr<Pending> work;
  };

  torch::Tensor on_gradient(size_t index, const torch::Tensor& grad);
  void launch_ready();
  void reset();

  std::shared_ptr<Group> group_;
  std::vector<torch::Tensor> parameters_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> slot_;  // parameter -> (bucket, position)
  std::vector<bool> filled_;
  std::vector<unsigned> hooks_;  // per parameter, when hooked
  size_t next_launch_ = 0;
  bool in_backward_ = false;
  int64_t launched_in_backward_ = 0;
  std::mutex mutex_;
};

}  // namespace glpdepth::dist
