// Depth for the caller's own frames, as a stream: push frames in (a camera, a decoder of the
// caller's), pop depth out in the same order with each frame's time stamp. A background thread
// runs the pipeline (infer/pipeline.h), so the network works while the caller captures the next
// frame. Memory stays bounded: push() blocks while `capacity` frames wait for the network and
// the depth of `capacity` frames waits for pop() (back-pressure); with the pipeline's own
// hand-overs, at most 2 x capacity + 5 frames are held at any time.
//
//   glpdepth::DepthStream stream(predictor);
//   while (camera.read(frame)) {
//     stream.push({frame.image, frame.seconds});
//     while (auto depth = stream.try_pop()) use(*depth);   // or pop() on another thread
//   }
//   stream.close();
//   while (auto depth = stream.pop()) use(*depth);
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "glpdepth/io/calib.h"
#include "glpdepth/io/image.h"

namespace glpdepth {

class DepthPredictor;

struct StreamFrame {
  Image8 image;  // RGB uint8 HxWx3, any size
  double time = std::numeric_limits<double>::quiet_NaN();  // seconds; NaN: none
  Intrinsics intrinsics;  // for camera-aware models; unknown otherwise
  std::string name;       // for messages; "frame <index>" when empty
};

struct StreamDepth {
  int64_t index = 0;  // 0, 1, 2 ... in push order
  double time = std::numeric_limits<double>::quiet_NaN();  // the frame's
  std::string name;
  torch::Tensor depth;  // [H, W] metres, float32, CPU
};

struct DepthStreamOptions {
  int64_t capacity = 2;    // frames waiting on either side of the network (at least 1)
  int64_t max_batch = 1;   // > 1: frames of one size already waiting share a forward pass
};

class DepthStream {
 public:
  // `predictor` must outlive the stream and not run elsewhere meanwhile.
  explicit DepthStream(DepthPredictor& predictor, const DepthStreamOptions& options = {});
  // Stops as stop() does and waits for the thread.
  ~DepthStream();
  DepthStream(const DepthStream&) = delete;
  DepthStream& operator=(const DepthStream&) = delete;

  // Queues a frame; blocks while the queue is full. Throws Error after close() or stop(), and
  // rethrows the failure of an earlier frame (a camera-aware model without intrinsics, ...).
  void push(StreamFrame frame);
  // The depth of the next frame in push order; blocks until it is ready. Nothing once the
  // stream is closed and drained, or stopped. Rethrows a failure of the network.
  std::optional<StreamDepth> pop();
  // The same without blocking: nothing when the next depth is not ready yet.
  std::optional<StreamDepth> try_pop();
  // No more frames: the queued ones are still predicted and popped.
  void close();
  // Early stop: queued frames are dropped, pop() returns nothing, the thread ends soon.
  void stop();
  // Frames pushed and depths popped so far.
  int64_t pushed() const;
  int64_t popped() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace glpdepth
