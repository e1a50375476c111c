// The OpenVINO backend of DepthPredictor (private to src/infer): a GLPDepth handed to OpenVINO
// as our own ONNX export in memory, compiled once per input shape.
#pragma once
#include <torch/types.h>

#include <memory>

#include "glpdepth/infer/backend.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/util/precision.h"

namespace glpdepth {

struct OpenVinoOptions {
  Precision precision = Precision::kFloat32;  // float32 or bfloat16: OpenVINO's precision hint
  int threads = 0;                            // 0: LibTorch's intra-op thread count
  PerformanceHint hint = PerformanceHint::kLatency;
};

class OpenVinoNetwork {
 public:
  // Exports `model` (its weights as they are now) and reads it into OpenVINO. Throws Error when
  // this build has no OpenVINO or the runtime refuses the model.
  OpenVinoNetwork(GLPDepth& model, const OpenVinoOptions& options);
  ~OpenVinoNetwork();
  OpenVinoNetwork(const OpenVinoNetwork&) = delete;
  OpenVinoNetwork& operator=(const OpenVinoNetwork&) = delete;

  // images [B,3,H,W] float32 on the CPU, H and W multiples of 32 -> depth [B,1,H,W] float32.
  // Thread-safe: each call has its own inference request.
  torch::Tensor forward(const torch::Tensor& images);

  // Calls of forward() that run at once: 1 for the latency hint; for throughput, one per thread
  // (OpenVINO makes at most that many streams and picks how many).
  int parallel_requests() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace glpdepth
