#include "glpdepth/infer/stream.h"

#include <torch/torch.h>

#include <atomic>
#include <thread>

#include "bounded_queue.h"
#include "glpdepth/infer/pipeline.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

using detail::BoundedQueue;
using detail::FirstError;

struct Queued {
  StreamFrame frame;
  int64_t index = 0;
};

// Thrown by the sink when stop() closed the output: ends the pipeline quietly.
struct Stopped {};

// Frames as they were pushed; with max_batch > 1, frames of one size that already wait join
// the first one (never waiting for more: latency stays one frame).
class QueueSource final : public FrameSource {
 public:
  QueueSource(BoundedQueue<Queued>& input, int64_t max_batch) : input_(input), max_batch_(max_batch) {}

  bool next(Frames& frames) override {
    std::optional<Queued> first = pending_ ? std::move(pending_) : input_.pop();
    pending_.reset();
    if (!first) return false;
    std::vector<Queued> batch;
    batch.push_back(std::move(*first));
    while (static_cast<int64_t>(batch.size()) < max_batch_) {
      std::optional<Queued> more = input_.try_pop();
      if (!more) break;
      if (more->frame.image.width != batch.front().frame.image.width ||
          more->frame.image.height != batch.front().frame.image.height) {
        pending_ = std::move(more);
        break;
      }
      batch.push_back(std::move(*more));
    }
    frames = Frames();
    for (Queued& q : batch) {
      Sample sample;
      sample.rgb = std::move(q.frame.image);
      sample.intrinsics = q.frame.intrinsics;
      sample.name = q.frame.name.empty() ? cat("frame ", q.index) : std::move(q.frame.name);
      sample.source = sample.name;
      sample.index = q.index;
      frames.times.push_back(q.frame.time);
      frames.samples.push_back(std::move(sample));
    }
    frames.batch = collate(frames.samples);
    return true;
  }
  void interrupt() override { input_.close(); }

 private:
  BoundedQueue<Queued>& input_;
  const int64_t max_batch_;
  std::optional<Queued> pending_;
};

class QueueSink final : public DepthSink {
 public:
  explicit QueueSink(BoundedQueue<StreamDepth>& output) : output_(output) {}
  void write(const Frames& frames) override {
    for (int64_t k = 0; k < frames.size(); ++k) {
      StreamDepth out;
      out.index = frames.batch.indices[static_cast<size_t>(k)];
      out.time = frames.times[static_cast<size_t>(k)];
      out.name = frames.batch.names[static_cast<size_t>(k)];
      out.depth = frames.prediction[k][0].contiguous();
      if (!output_.push(std::move(out))) throw Stopped();
    }
  }

 private:
  BoundedQueue<StreamDepth>& output_;
};

void check_image(const StreamFrame& frame, int64_t index) {
  const Image8& image = frame.image;
  check(image.channels == 3 && image.width > 0 && image.height > 0 &&
            image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
        "stream frame ", frame.name.empty() ? cat(index) : frame.name, ": expected an RGB image (",
        image.width, "x", image.height, "x", image.channels, " with ", image.pixels.size(), " bytes)");
}

}  // namespace

struct DepthStream::State {
  State(DepthPredictor& p, const DepthStreamOptions& o)
      : predictor(p), input(static_cast<size_t>(o.capacity)), output(static_cast<size_t>(o.capacity)),
        max_batch(o.max_batch) {}
  DepthPredictor& predictor;
  BoundedQueue<Queued> input;
  BoundedQueue<StreamDepth> output;
  const int64_t max_batch;
  FirstError error;
  std::atomic<bool> closed{false};
  std::atomic<int64_t> pushed{0}, popped{0};
  std::thread worker;

  // What pop() hands out: counted; nothing, after a failure, rethrows it.
  std::optional<StreamDepth> taken(std::optional<StreamDepth> out) {
    if (!out) {
      error.rethrow();
      return std::nullopt;
    }
    ++popped;
    return out;
  }

  void run() {
    try {
      QueueSource source(input, max_batch);
      QueueSink sink(output);
      PipelineOptions options;
      options.decode_ahead = 1;
      options.write_behind = 1;
      run_pipeline(source, predictor, {&sink}, options);
    } catch (const Stopped&) {
    } catch (...) {
      error.set(std::current_exception());
    }
    input.close();
    output.close();
  }
};

DepthStream::DepthStream(DepthPredictor& predictor, const DepthStreamOptions& options) {
  check(options.capacity >= 1, "DepthStream: capacity must be at least 1, got ", options.capacity);
  check(options.max_batch >= 1, "DepthStream: max_batch must be at least 1, got ", options.max_batch);
  state_ = std::make_unique<State>(predictor, options);
  state_->worker = std::thread([state = state_.get()] { state->run(); });
}

DepthStream::~DepthStream() {
  stop();
  if (state_->worker.joinable()) state_->worker.join();
}

void DepthStream::push(StreamFrame frame) {
  state_->error.rethrow();
  check(!state_->closed, "DepthStream: push after close() or stop()");
  const int64_t index = state_->pushed;
  check_image(frame, index);
  if (!state_->input.push({std::move(frame), index})) {
    state_->error.rethrow();
    throw Error("DepthStream: push after close() or stop()");
  }
  ++state_->pushed;
}

std::optional<StreamDepth> DepthStream::pop() { return state_->taken(state_->output.pop()); }

std::optional<StreamDepth> DepthStream::try_pop() { return state_->taken(state_->output.try_pop()); }

void DepthStream::close() {
  state_->closed = true;
  state_->input.close();
}

void DepthStream::stop() {
  state_->closed = true;
  state_->input.close();
  state_->input.clear();
  state_->output.close();
  state_->output.clear();
}

int64_t DepthStream::pushed() const { return state_->pushed; }
int64_t DepthStream::popped() const { return state_->popped; }

}  // namespace glpdepth
