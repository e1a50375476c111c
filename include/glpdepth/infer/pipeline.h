// Frames in, depth out, with the stages overlapped: decoding runs ahead of the network on one
// thread, writing runs behind it on another, and the network keeps the calling thread (and its
// backend's threads). Queues between the stages are bounded, so memory stays at a few batches
// whatever the input's length, and batches reach the writer in their order. `glpdepth predict`
// runs its images through it.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "glpdepth/data/sample.h"
#include "glpdepth/infer/predictor.h"

namespace glpdepth {

struct PipelineOptions {
  int64_t decode_ahead = 2;   // decoded batches waiting for the network
  int64_t write_behind = 2;   // predicted batches waiting for the writer
};

struct PipelineStats {
  int64_t batches = 0;
  int64_t images = 0;
  double seconds = 0;        // the whole run, first decode to last write
  double model_seconds = 0;  // inside DepthPredictor::predict
};

// Batch `index` (0 .. batches-1) as samples of one size.
using DecodeBatch = std::function<std::vector<Sample>(int64_t index)>;
// The samples of one batch with their depth [B,1,H,W] (metres, float32, CPU), in batch order.
using WriteBatch = std::function<void(const std::vector<Sample>& samples, const torch::Tensor& depth)>;

// Runs every batch through decode -> predictor -> write. The first exception of any stage stops
// the others (no later batch is written) and is rethrown here once both threads have ended.
PipelineStats run_pipeline(int64_t batches, const DecodeBatch& decode, DepthPredictor& predictor,
                           const WriteBatch& write, const PipelineOptions& options = {});

}  // namespace glpdepth
