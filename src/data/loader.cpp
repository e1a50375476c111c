#include "glpdepth/data/loader.h"

#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <numeric>
#include <thread>

#include "glpdepth/util/error.h"

namespace glpdepth {

Batch collate(const std::vector<Sample>& samples, bool pin_memory) {
  Batch batch;
  const int64_t n = static_cast<int64_t>(samples.size());
  int h = n ? samples[0].height() : 0, w = n ? samples[0].width() : 0;
  bool depth = n > 0 && samples[0].has_depth();
  for (const Sample& s : samples) {
    check(s.height() == h && s.width() == w, "batch: ", s.source, " is ", s.width(), "x",
          s.height(), " but ", samples[0].source, " is ", w, "x", h,
          "; images of different sizes need batch size 1");
    check(s.rgb.channels == 3, s.source, ": expected 3 channels");
    check(s.has_depth() == depth, "batch: ", s.source, " and ", samples[0].source,
          " differ in having depth");
  }
  auto options = torch::TensorOptions().dtype(torch::kFloat32);
  // Page-locked memory makes host-to-device copies asynchronous; only where a GPU exists.
  if (pin_memory && torch::cuda::is_available()) options = options.pinned_memory(true);
  batch.image = torch::empty({n, 3, h, w}, options);
  batch.intrinsics = torch::zeros({n, 4}, options);
  if (depth) batch.depth = torch::empty({n, 1, h, w}, options);
  const size_t plane = static_cast<size_t>(h) * w;
  float* img = batch.image.data_ptr<float>();
  float* k = batch.intrinsics.data_ptr<float>();
  for (int64_t b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    const uint8_t* src = s.rgb.pixels.data();
    float* r = img + static_cast<size_t>(b) * 3 * plane;
    float* g = r + plane;
    float* bl = g + plane;
    for (size_t i = 0; i < plane; ++i) {
      r[i] = src[3 * i] * (1.f / 255.f);
      g[i] = src[3 * i + 1] * (1.f / 255.f);
      bl[i] = src[3 * i + 2] * (1.f / 255.f);
    }
    if (depth) {
      std::copy(s.depth.begin(), s.depth.end(),
                batch.depth.data_ptr<float>() + static_cast<size_t>(b) * plane);
    }
    k[4 * b + 0] = s.intrinsics.fx;
    k[4 * b + 1] = s.intrinsics.fy;
    k[4 * b + 2] = s.intrinsics.cx;
    k[4 * b + 3] = s.intrinsics.cy;
    batch.names.push_back(s.name);
    batch.indices.push_back(s.index);
  }
  return batch;
}

// One epoch in flight: workers claim batch numbers in order and park finished batches in `done`
// until the consumer takes them; at most `capacity` batches are ahead of the consumer.
struct Loader::Run {
  std::vector<std::vector<int64_t>> plan;
  std::mutex mutex;
  std::condition_variable ready, space;
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  std::map<int64_t, Slot> done;
  int64_t next_claim = 0;
  int64_t next_yield = 0;
  int64_t capacity = 1;
  bool stop = false;
  std::vector<std::thread> threads;
};

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options,
               std::shared_ptr<const Augmenter> augmenter)
    : dataset_(std::move(dataset)), options_(options), augmenter_(std::move(augmenter)) {
  check(dataset_ != nullptr, "loader: no dataset");
  check(options_.batch_size > 0, "--batch_size must be > 0, got ", options_.batch_size);
  check(options_.workers >= 0, "--workers must be >= 0, got ", options_.workers);
  check(options_.world_size > 0 && options_.rank >= 0 && options_.rank < options_.world_size,
        "loader: rank ", options_.rank, " is not in [0, world size ", options_.world_size, ")");
  check(!augmenter_ || dataset_->has_depth(), "loader: augmentation needs a dataset with depth");
}

Loader::~Loader() { stop(); }

void Loader::set_epoch(int64_t epoch, int64_t first_batch) {
  stop();
  check(first_batch >= 0, "loader: first batch ", first_batch, " must be >= 0");
  epoch_ = epoch;
  first_batch_ = first_batch;
}

std::vector<std::vector<int64_t>> Loader::plan() const {
  const int64_t n = dataset_->size();
  const int64_t world = options_.world_size, b = options_.batch_size;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) {
    // Fisher-Yates with our own generator: the same order on every platform and rank.
    Rng rng = Rng::for_sample(options_.seed, epoch_, -1);
    for (int64_t i = n - 1; i > 0; --i) {
      std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
    }
  }
  const int64_t used = options_.drop_last ? (n / world) * world : n;
  std::vector<int64_t> mine;
  for (int64_t i = options_.rank; i < used; i += world) mine.push_back(order[i]);
  std::vector<std::vector<int64_t>> batches;
  for (size_t i = 0; i < mine.size(); i += static_cast<size_t>(b)) {
    size_t end = std::min(mine.size(), i + static_cast<size_t>(b));
    if (options_.drop_last && end - i < static_cast<size_t>(b)) break;
    batches.emplace_back(mine.begin() + i, mine.begin() + end);
  }
  // Ranks with fewer samples get trailing empty batches, so every rank runs num_batches().
  while (static_cast<int64_t>(batches.size()) < num_batches()) batches.emplace_back();
  return batches;
}

int64_t Loader::num_batches() const {
  const int64_t n = dataset_->size();
  const int64_t world = options_.world_size, b = options_.batch_size;
  if (options_.drop_last) return (n / world) / b;
  const int64_t per_rank = (n + world - 1) / world;
  return (per_rank + b - 1) / b;
}

Batch Loader::build(const std::vector<int64_t>& indices) const {
  ++batches_built_;
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  for (int64_t index : indices) {
    try {
      Sample s = dataset_->get(index);
      if (augmenter_) {
        Rng rng = Rng::for_sample(options_.seed, epoch_, index);
        try {
          augmenter_->apply(s, rng);
        } catch (const std::exception& e) {
          throw Error(cat(dataset_->describe(index), ": ", e.what()));
        }
      }
      samples.push_back(std::move(s));
    } catch (const Error& e) {
      if (!options_.skip_bad_samples) throw;
      std::lock_guard<std::mutex> lock(skipped_mutex_);
      skipped_messages_.push_back(e.what());
    }
  }
  Batch batch = collate(samples, options_.pin_memory);
  if (samples.empty() && dataset_->has_depth()) batch.depth = torch::empty({0, 1, 0, 0});
  return batch;
}

void Loader::stop() {
  if (!run_) return;
  {
    std::lock_guard<std::mutex> lock(run_->mutex);
    run_->stop = true;
  }
  run_->space.notify_all();
  run_->ready.notify_all();
  for (std::thread& t : run_->threads) t.join();
  run_.reset();
}

void Loader::start() {
  stop();
  run_ = std::make_unique<Run>();
  run_->plan = plan();
  run_->next_claim = run_->next_yield =
      std::min<int64_t>(first_batch_, static_cast<int64_t>(run_->plan.size()));
  first_batch_ = 0;
  run_->capacity = std::max<int64_t>(1, options_.prefetch) * std::max(1, options_.workers);
  Run* run = run_.get();
  for (int t = 0; t < options_.workers; ++t) {
    run->threads.emplace_back([this, run] {
      for (;;) {
        int64_t k;
        {
          std::unique_lock<std::mutex> lock(run->mutex);
          run->space.wait(lock, [run] {
            return run->stop || run->next_claim >= static_cast<int64_t>(run->plan.size()) ||
                   run->next_claim < run->next_yield + run->capacity;
          });
          if (run->stop || run->next_claim >= static_cast<int64_t>(run->plan.size())) return;
          k = run->next_claim++;
        }
        Run::Slot slot;
        try {
          slot.batch = build(run->plan[static_cast<size_t>(k)]);
        } catch (...) {
          slot.error = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lock(run->mutex);
          run->done.emplace(k, std::move(slot));
        }
        run->ready.notify_all();
      }
    });
  }
}

bool Loader::next(Batch& batch) {
  if (!run_) start();
  Run* run = run_.get();
  const int64_t total = static_cast<int64_t>(run->plan.size());
  if (run->next_yield >= total) return false;
  Run::Slot slot;
  if (options_.workers == 0) {
    try {
      slot.batch = build(run->plan[static_cast<size_t>(run->next_yield)]);
    } catch (...) {
      slot.error = std::current_exception();
    }
    ++run->next_yield;
  } else {
    std::unique_lock<std::mutex> lock(run->mutex);
    run->ready.wait(lock, [run] { return run->done.count(run->next_yield) > 0; });
    auto it = run->done.find(run->next_yield);
    slot = std::move(it->second);
    run->done.erase(it);
    ++run->next_yield;
    lock.unlock();
    run->space.notify_all();
  }
  if (slot.error) {
    stop();
    std::rethrow_exception(slot.error);
  }
  batch = std::move(slot.batch);
  return true;
}

Loader::iterator::iterator(Loader* loader) : loader_(loader) { ++*this; }

Loader::iterator& Loader::iterator::operator++() {
  if (loader_ && !loader_->next(batch_)) loader_ = nullptr;
  return *this;
}

Loader::iterator Loader::begin() {
  start();
  return iterator(this);
}

int64_t Loader::skipped() const {
  std::lock_guard<std::mutex> lock(skipped_mutex_);
  return static_cast<int64_t>(skipped_messages_.size());
}

std::vector<std::string> Loader::skipped_messages() const {
  std::lock_guard<std::mutex> lock(skipped_mutex_);
  return skipped_messages_;
}

}  // namespace glpdepth
