#include "glpdepth/infer/pipeline.h"

#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "glpdepth/data/loader.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

// A queue of at most `capacity` items. close() ends it: pop() drains what is left and then
// returns nothing; push() after close() returns false (the consumer has stopped).
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

  bool push(T item) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }

  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    changed_.notify_all();
    return item;
  }

  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
  bool closed_ = false;
};

// The first failure of any stage.
class FirstError {
 public:
  void set(std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = error;
  }
  bool failed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_ != nullptr;
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

struct Decoded {
  std::vector<Sample> samples;
  Batch batch;  // collated on the decoder's thread: the network's thread only runs the network
};

struct Predicted {
  std::vector<Sample> samples;
  torch::Tensor depth;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

PipelineStats run_pipeline(int64_t batches, const DecodeBatch& decode, DepthPredictor& predictor,
                           const WriteBatch& write, const PipelineOptions& options) {
  check(options.decode_ahead >= 1 && options.write_behind >= 1,
        "pipeline: decode_ahead and write_behind must be at least 1");
  const auto start = std::chrono::steady_clock::now();
  BoundedQueue<Decoded> decoded(static_cast<size_t>(options.decode_ahead));
  BoundedQueue<Predicted> predicted(static_cast<size_t>(options.write_behind));
  FirstError error;
  PipelineStats stats;

  std::thread decoder([&] {
    try {
      for (int64_t b = 0; b < batches && !error.failed(); ++b) {
        Decoded item;
        item.samples = decode(b);
        item.batch = collate(item.samples);
        if (!decoded.push(std::move(item))) break;
      }
    } catch (...) {
      error.set(std::current_exception());
    }
    decoded.close();
  });
  std::thread writer([&] {
    try {
      while (auto item = predicted.pop()) {
        if (error.failed()) break;
        write(item->samples, item->depth);
      }
    } catch (...) {
      error.set(std::current_exception());
    }
    predicted.close();  // a failed writer stops the network's pushes
    decoded.close();    // and the decoder's
  });

  try {
    while (auto item = decoded.pop()) {
      if (error.failed()) break;
      const auto t0 = std::chrono::steady_clock::now();
      torch::Tensor depth = predictor.predict(item->batch);
      stats.model_seconds += seconds_since(t0);
      stats.batches += 1;
      stats.images += static_cast<int64_t>(item->samples.size());
      if (!predicted.push({std::move(item->samples), depth})) break;
    }
  } catch (...) {
    error.set(std::current_exception());
  }
  predicted.close();
  decoded.close();
  decoder.join();
  writer.join();
  error.rethrow();
  stats.seconds = seconds_since(start);
  return stats;
}

}  // namespace glpdepth
