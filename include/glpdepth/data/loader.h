// Multi-threaded batching: worker threads decode, augment and collate whole batches ahead of the
// consumer (bounded by `prefetch`), batches come out in order. The order of an epoch depends on
// (seed, epoch) only, and each sample's augmentation on (seed, epoch, index) only, so the batches
// are identical for any number of workers.
//
// Sharding (rank/world_size): the epoch order is dealt round-robin to the ranks.
//  - drop_last (training): the last N mod world_size samples of the epoch order are dropped, then
//    each rank drops its incomplete last batch. Every rank has the same number of full batches;
//    no sample is repeated.
//  - otherwise (evaluation): every sample is used exactly once across ranks; a rank that ends up a
//    batch short gets an empty batch (size() == 0) at the end, so every rank sees num_batches().
//    Nothing is ever duplicated, so metrics stay exact.
#pragma once
#include <torch/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "glpdepth/data/augment.h"
#include "glpdepth/data/dataset.h"

namespace glpdepth {

struct LoaderOptions {
  int64_t batch_size = 1;
  int workers = 2;       // threads; 0 = decode in the consuming thread
  bool shuffle = false;
  bool drop_last = false;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
  int prefetch = 2;      // batches in flight per worker
  bool pin_memory = false;  // page-locked batches, only when CUDA is available
  // A sample that fails to load (missing/unreadable file, size mismatch, 8-bit depth, ...) is left
  // out of its batch and counted (skipped()) instead of ending the epoch with an Error.
  bool skip_bad_samples = false;
};

struct Batch {
  torch::Tensor image;       // [B,3,H,W] float32 in [0,1]
  torch::Tensor depth;       // [B,1,H,W] float32 metres, 0 = invalid; undefined without depth
  torch::Tensor intrinsics;  // [B,4] float32 fx, fy, cx, cy of the (cropped/flipped) frame; 0 = unknown
  std::vector<std::string> names;
  std::vector<int64_t> indices;  // dataset indices
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
  bool empty() const { return indices.empty(); }
};

// Stacks samples of one size into a Batch (Error naming the samples when sizes differ).
Batch collate(const std::vector<Sample>& samples, bool pin_memory = false);

class Loader {
 public:
  // `augmenter` may be null (evaluation). The dataset must outlive nothing: it is shared.
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options,
         std::shared_ptr<const Augmenter> augmenter = nullptr);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Selects the shuffle order and augmentation streams of the next epoch(s). The next pass
  // starts at batch `first_batch` of the epoch: the batches before it are never decoded (exact
  // mid-epoch resume); later passes start at 0 again.
  void set_epoch(int64_t epoch, int64_t first_batch = 0);
  int64_t epoch() const { return epoch_; }
  // Batches per epoch on this rank (the same on every rank).
  int64_t num_batches() const;
  // The dataset indices of each batch of the current epoch on this rank.
  std::vector<std::vector<int64_t>> plan() const;

  // One epoch: start() (re)starts the workers at the first batch set_epoch chose; next() yields
  // batches in order and returns false at the end. Errors of a sample are rethrown by next()
  // for the batch that holds it.
  void start();
  bool next(Batch& batch);

  // Range-for over one epoch: for (Batch& b : loader) ... (begin() calls start()).
  class iterator {
   public:
    iterator() = default;
    explicit iterator(Loader* loader);
    Batch& operator*() { return batch_; }
    Batch* operator->() { return &batch_; }
    iterator& operator++();
    bool operator!=(const iterator& other) const { return loader_ != other.loader_; }
    bool operator==(const iterator& other) const { return loader_ == other.loader_; }

   private:
    Loader* loader_ = nullptr;
    Batch batch_;
  };
  iterator begin();
  iterator end() { return iterator(); }

  // Batches decoded since construction (all passes), e.g. to show that a resumed run does
  // not decode the batches it skips.
  int64_t batches_built() const { return batches_built_.load(); }

  // Samples left out under skip_bad_samples since construction, with their messages.
  int64_t skipped() const;
  std::vector<std::string> skipped_messages() const;

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Run;
  Batch build(const std::vector<int64_t>& indices) const;
  void stop();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  std::shared_ptr<const Augmenter> augmenter_;
  int64_t epoch_ = 0;
  int64_t first_batch_ = 0;
  mutable std::atomic<int64_t> batches_built_{0};
  std::unique_ptr<Run> run_;
  mutable std::mutex skipped_mutex_;
  mutable std::vector<std::string> skipped_messages_;
};

}  // namespace glpdepth
