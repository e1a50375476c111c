#include "glpdepth/infer/pipeline.h"

#include <torch/torch.h>

#include <chrono>
#include <mutex>
#include <map>
#include <thread>

#include "bounded_queue.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

using detail::BoundedQueue;
using detail::FirstError;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

torch::Tensor slice(const torch::Tensor& image, const Window& w) {
  return image.slice(-2, w.top, w.bottom).slice(-1, w.left, w.right);
}

class DatasetFrames final : public FrameSource {
 public:
  DatasetFrames(std::shared_ptr<const Dataset> dataset, std::vector<std::vector<int64_t>> plan)
      : dataset_(std::move(dataset)), plan_(std::move(plan)) {
    for (const auto& batch : plan_) count_ += static_cast<int64_t>(batch.size());
  }
  bool next(Frames& frames) override {
    if (next_ >= plan_.size()) return false;
    frames = Frames();
    for (int64_t i : plan_[next_]) frames.samples.push_back(dataset_->get(i));
    frames.batch = collate(frames.samples);  // on the source thread: the network only runs
    ++next_;
    return true;
  }
  int64_t frame_count() const override { return count_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::vector<std::vector<int64_t>> plan_;
  size_t next_ = 0;
  int64_t count_ = 0;
};

class LoaderFrames final : public FrameSource {
 public:
  LoaderFrames(Loader& loader, std::optional<WindowSpec> network_window)
      : loader_(loader), network_window_(std::move(network_window)) {}
  bool next(Frames& frames) override {
    if (!started_) {
      loader_.start();
      started_ = true;
    }
    frames = Frames();
    if (!loader_.next(frames.batch)) return false;
    if (network_window_ && !frames.empty()) {
      const torch::Tensor& images = frames.batch.image;
      frames.network_window = window_rect(*network_window_, static_cast<int>(images.size(2)),
                                          static_cast<int>(images.size(3)), frames.batch.names.front());
    }
    return true;
  }
  int64_t frame_count() const override {
    int64_t count = 0;
    for (const auto& batch : loader_.plan()) count += static_cast<int64_t>(batch.size());
    return count;
  }

 private:
  Loader& loader_;
  std::optional<WindowSpec> network_window_;
  bool started_ = false;
};

class FunctionSink final : public DepthSink {
 public:
  explicit FunctionSink(std::function<void(const Frames&)> write) : write_(std::move(write)) {}
  void write(const Frames& frames) override { write_(frames); }

 private:
  std::function<void(const Frames&)> write_;
};

}  // namespace

namespace {

// Frames with their place in the source's order: parallel network calls finish out of order.
struct Numbered {
  int64_t index = 0;
  Frames frames;
};

// Hands frames to the sinks in the source's order, holding those that overtook an earlier one.
class InOrder {
 public:
  template <typename Emit>
  void add(Numbered item, Emit&& emit) {
    waiting_.emplace(item.index, std::move(item.frames));
    for (auto next = waiting_.find(next_); next != waiting_.end(); next = waiting_.find(next_)) {
      emit(next->second);
      waiting_.erase(next);
      ++next_;
    }
  }

 private:
  std::map<int64_t, Frames> waiting_;
  int64_t next_ = 0;
};

}  // namespace

PipelineStats run_pipeline(FrameSource& source, const DepthFunction& predict,
                           const std::vector<DepthSink*>& sinks, const PipelineOptions& options) {
  check(options.decode_ahead >= 1 && options.write_behind >= 1 && options.parallel_calls >= 0,
        "pipeline: decode_ahead and write_behind must be at least 1, parallel_calls at least 0");
  const int64_t calls = std::max<int64_t>(1, options.parallel_calls);
  const auto start = std::chrono::steady_clock::now();
  // Each parallel call holds one batch; the queues keep the others fed while it runs.
  BoundedQueue<Numbered> decoded(static_cast<size_t>(options.decode_ahead + calls - 1));
  BoundedQueue<Numbered> predicted(static_cast<size_t>(options.write_behind + calls - 1));
  FirstError error;
  PipelineStats stats;
  stats.parallel_calls = calls;

  std::thread reader([&] {
    try {
      Numbered item;
      while (!error.failed() && source.next(item.frames)) {
        const int64_t index = item.index;
        if (!decoded.push(std::move(item))) break;
        item = Numbered();
        item.index = index + 1;
      }
    } catch (...) {
      error.set(std::current_exception());
    }
    decoded.close();
  });
  std::thread writer([&] {
    try {
      InOrder in_order;
      while (auto item = predicted.pop()) {
        if (error.failed()) break;
        in_order.add(std::move(*item), [&](const Frames& frames) {
          for (DepthSink* sink : sinks) sink->write(frames);
        });
      }
      if (!error.failed())
        for (DepthSink* sink : sinks) sink->finish();
    } catch (...) {
      error.set(std::current_exception());
    }
    predicted.close();  // a failed sink stops the network's pushes
    decoded.close();    // and the source's
  });

  std::mutex stats_mutex;
  auto network = [&] {
    PipelineStats mine;
    try {
      while (auto item = decoded.pop()) {
        if (error.failed()) break;
        Frames& frames = item->frames;
        if (!frames.empty()) {
          torch::Tensor images = frames.batch.image;
          if (frames.network_window) images = slice(images, *frames.network_window);
          const auto t0 = std::chrono::steady_clock::now();
          frames.prediction = predict(images, frames.batch.intrinsics);
          mine.model_seconds += seconds_since(t0);
          mine.batches += 1;
          mine.images += frames.size();
        }
        if (!predicted.push(std::move(*item))) break;
      }
    } catch (...) {
      error.set(std::current_exception());
    }
    {
      std::lock_guard<std::mutex> lock(stats_mutex);
      stats.model_seconds += mine.model_seconds;
      stats.batches += mine.batches;
      stats.images += mine.images;
    }
    if (error.failed()) {  // wake the other calls and the writer; the caller closes otherwise
      predicted.close();
      decoded.close();
    }
  };
  // The calling thread is one of the network's (LibTorch's per-thread state, CUDA's current
  // stream, stays the caller's when there is one call).
  std::vector<std::thread> more;
  for (int64_t i = 1; i < calls; ++i) more.emplace_back(network);
  network();
  for (std::thread& thread : more) thread.join();
  predicted.close();
  decoded.close();
  if (error.failed()) source.interrupt();
  reader.join();
  writer.join();
  error.rethrow();
  stats.seconds = seconds_since(start);
  return stats;
}

PipelineStats run_pipeline(FrameSource& source, DepthPredictor& predictor,
                           const std::vector<DepthSink*>& sinks, const PipelineOptions& options) {
  PipelineOptions resolved = options;
  if (resolved.parallel_calls == 0) resolved.parallel_calls = predictor.parallel_calls();
  return run_pipeline(
      source,
      [&predictor](const torch::Tensor& images, const torch::Tensor& intrinsics) {
        return predictor.predict(images, intrinsics);
      },
      sinks, resolved);
}

std::unique_ptr<FrameSource> dataset_frames(std::shared_ptr<const Dataset> dataset,
                                            std::vector<std::vector<int64_t>> plan) {
  return std::make_unique<DatasetFrames>(std::move(dataset), std::move(plan));
}

std::vector<std::vector<int64_t>> plan_batches_by_size(const Dataset& dataset, int64_t batch_size,
                                                       int64_t* sizes) {
  check(batch_size >= 1, "batch size must be at least 1, got ", batch_size);
  std::map<std::pair<int, int>, std::vector<int64_t>> by_size;
  std::vector<std::pair<int, int>> size_order;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const std::filesystem::path path = dataset.image_file(i);
    ImageInfo info;
    try {
      info = probe_image(path);
    } catch (const std::exception& e) {
      throw error_about_file("input image " + path.string(), path.string(), e.what());
    }
    check(info.width > 0 && info.height > 0, "input image ", path.string(), ": empty image");
    auto key = std::make_pair(info.height, info.width);
    if (by_size.find(key) == by_size.end()) size_order.push_back(key);
    by_size[key].push_back(i);
  }
  std::vector<std::vector<int64_t>> batches;
  for (const auto& key : size_order) {
    const auto& indices = by_size[key];
    for (size_t first = 0; first < indices.size(); first += static_cast<size_t>(batch_size)) {
      const size_t end = std::min(indices.size(), first + static_cast<size_t>(batch_size));
      batches.emplace_back(indices.begin() + first, indices.begin() + end);
    }
  }
  if (sizes) *sizes = static_cast<int64_t>(size_order.size());
  return batches;
}

std::unique_ptr<FrameSource> loader_frames(Loader& loader, std::optional<WindowSpec> network_window) {
  return std::make_unique<LoaderFrames>(loader, std::move(network_window));
}

std::unique_ptr<DepthSink> function_sink(std::function<void(const Frames&)> write) {
  return std::make_unique<FunctionSink>(std::move(write));
}

}  // namespace glpdepth
