// The one inference pipeline: a frame source -> the network -> depth sinks, with the stages
// overlapped. The source runs ahead of the network on one thread, the sinks run behind it on
// another, and the network keeps the calling thread (and its backend's threads; a backend that
// runs several images at once, OpenVINO's throughput streams, gets a thread per call). Queues
// between the stages are bounded, so memory stays at a few batches whatever the input's length, and
// frames reach the sinks in the source's order. `glpdepth predict` (image files), evaluate()
// (a loader, for `test` and training validation) and DepthStream (the caller's own frames) all
// run through it.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/sample.h"
#include "glpdepth/data/window.h"

namespace glpdepth {

class DepthPredictor;

// Frames of one size that travel through the pipeline together.
struct Frames {
  // images [B,3,H,W] float RGB in [0,1], intrinsics [B,4], names; depth: the ground truth when
  // the source has it (evaluation), undefined otherwise.
  Batch batch;
  // The decoded frames, for sinks that draw on the image (panels, point clouds); empty when the
  // source has none (a loader).
  std::vector<Sample> samples;
  // Presentation time of each frame in seconds (video, streams); empty when frames have none.
  std::vector<double> times;
  // Set when the network sees only this window of each frame (KITTI's full-frame protocol):
  // `prediction` then covers the window, the ground truth the whole frame.
  std::optional<Window> network_window;
  // The network's depth [B,1,H,W] in metres, float32 on the CPU: set by the pipeline before
  // the sinks see the frames; undefined for an empty batch (distributed padding).
  torch::Tensor prediction;

  int64_t size() const { return batch.size(); }
  bool empty() const { return batch.empty(); }
};

// Where frames come from. next() runs on the pipeline's source thread, one call at a time.
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frames in order (all of one size; batch.images set); false at the end. Errors
  // throw and stop the run.
  virtual bool next(Frames& frames) = 0;
  // Frames in all when known in advance (progress reports), -1 for streams.
  virtual int64_t frame_count() const { return -1; }
  // Called from another thread when the run stops early (another stage failed): a next() that
  // waits for outside input (a camera, the caller's queue) should return false soon.
  virtual void interrupt() {}
};

// Where depth goes. write() runs on the pipeline's sink thread, in the source's order; finish()
// after the last frames when no stage failed (a video file is closed there, not on failure).
class DepthSink {
 public:
  virtual ~DepthSink() = default;
  virtual void write(const Frames& frames) = 0;
  virtual void finish() {}
};

// What runs the network: images [B,3,H,W] (float RGB in [0,1]) and intrinsics [B,4] to depth
// [B,1,H,W] in metres on the CPU. DepthPredictor::predict, or a stub in tests.
using DepthFunction =
    std::function<torch::Tensor(const torch::Tensor& images, const torch::Tensor& intrinsics)>;

struct PipelineOptions {
  int64_t decode_ahead = 2;  // decoded batches waiting for the network
  int64_t write_behind = 2;  // predicted batches waiting for the sinks
  // Network calls at once (each on its own thread, the caller's among them); the sinks still see
  // the source's order. 0: the predictor's parallel_calls() (1 for a DepthFunction).
  int64_t parallel_calls = 0;
};

struct PipelineStats {
  int64_t batches = 0;       // batches that went through the network
  int64_t images = 0;
  double seconds = 0;        // the whole run, first decode to last write
  double model_seconds = 0;  // inside the DepthFunction, summed over parallel calls
  int64_t parallel_calls = 1;
};

// Runs every frame of `source` through `predict` into each sink, in order. The first exception
// of any stage stops the others (no later frames reach a sink, finish() is not called) and is
// rethrown here once both threads have ended. Empty batches pass to the sinks unpredicted.
PipelineStats run_pipeline(FrameSource& source, const DepthFunction& predict,
                           const std::vector<DepthSink*>& sinks, const PipelineOptions& options = {});
PipelineStats run_pipeline(FrameSource& source, DepthPredictor& predictor,
                           const std::vector<DepthSink*>& sinks, const PipelineOptions& options = {});

// Sources ------------------------------------------------------------------------------------

// The batches `plan` names (dataset indices, each batch of one image size), decoded from
// `dataset` with their samples kept. `glpdepth predict` plans them with plan_batches_by_size.
std::unique_ptr<FrameSource> dataset_frames(std::shared_ptr<const Dataset> dataset,
                                            std::vector<std::vector<int64_t>> plan);
// Images grouped by size in order of first appearance, in batches of at most `batch_size`.
// Every image is probed (header only) first, which catches missing or unreadable files before
// anything is written; `sizes` (optional) receives the number of distinct sizes.
std::vector<std::vector<int64_t>> plan_batches_by_size(const Dataset& dataset, int64_t batch_size,
                                                       int64_t* sizes = nullptr);
// One epoch of `loader` (its start() is called on the source thread). With `network_window`,
// the network sees that window of each image (window_rect checks it fits) and the ground truth
// stays whole.
std::unique_ptr<FrameSource> loader_frames(Loader& loader,
                                           std::optional<WindowSpec> network_window = std::nullopt);

// A sink that calls `write` (tests, small programs).
std::unique_ptr<DepthSink> function_sink(std::function<void(const Frames&)> write);

}  // namespace glpdepth
