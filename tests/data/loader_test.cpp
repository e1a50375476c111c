#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "common/temp_dir.h"
#include "data/fixtures.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

// In-memory dataset: sample i is a 10x6 image whose red channel is i and depth is i + 1 metres.
class FakeDataset : public Dataset {
 public:
  explicit FakeDataset(int64_t n, std::set<int64_t> bad = {}) : n_(n), bad_(std::move(bad)) {
    defaults_ = dataset_defaults(DatasetKind::kFolder);
    defaults_.max_depth = 80;
  }
  int64_t size() const override { return n_; }
  bool has_depth() const override { return true; }
  std::string describe(int64_t i) const override { return cat("fake line ", i + 1); }
  Sample get(int64_t i) const override {
    ++calls;
    if (bad_.count(i)) throw Error(cat(describe(i), ": file /fake/", i, ".png: does not exist"));
    Sample s;
    s.rgb = testing::pattern_rgb(10, 6, 0);
    for (int y = 0; y < 6; ++y) {
      for (int x = 0; x < 10; ++x) s.rgb.at(x, y)[0] = static_cast<uint8_t>(i);
    }
    s.depth.assign(60, static_cast<float>(i + 1));
    s.intrinsics = {100.f + i, 101.f, 4.5f, 2.5f};
    s.name = cat("s", i, ".png");
    s.index = i;
    s.source = describe(i);
    return s;
  }
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_;
  std::set<int64_t> bad_;
};

std::vector<Batch> all_batches(Loader& loader) {
  std::vector<Batch> out;
  for (Batch& b : loader) out.push_back(std::move(b));
  return out;
}

std::vector<int64_t> flat_indices(const std::vector<Batch>& batches) {
  std::vector<int64_t> out;
  for (const Batch& b : batches) out.insert(out.end(), b.indices.begin(), b.indices.end());
  return out;
}

TEST(Loader, ShapesScalingAndOrder) {
  auto ds = std::make_shared<FakeDataset>(7);
  LoaderOptions o;
  o.batch_size = 3;
  o.workers = 2;
  Loader loader(ds, o);
  EXPECT_EQ(loader.num_batches(), 3);
  auto batches = all_batches(loader);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(flat_indices(batches), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  const Batch& b = batches[1];
  ASSERT_EQ(b.image.sizes(), (std::vector<int64_t>{3, 3, 6, 10}));
  ASSERT_EQ(b.depth.sizes(), (std::vector<int64_t>{3, 1, 6, 10}));
  ASSERT_EQ(b.intrinsics.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_FLOAT_EQ(b.image[0][0][2][3].item<float>(), 3 / 255.f);     // red = sample index
  EXPECT_FLOAT_EQ(b.image[1][1][2][3].item<float>(), 2 / 255.f);     // green = y
  EXPECT_FLOAT_EQ(b.image[2][2][2][3].item<float>(), 5 / 255.f);     // blue = x + y
  EXPECT_FLOAT_EQ(b.depth[2][0][5][9].item<float>(), 6.f);
  EXPECT_FLOAT_EQ(b.intrinsics[1][0].item<float>(), 104.f);
  EXPECT_EQ(b.names, (std::vector<std::string>{"s3.png", "s4.png", "s5.png"}));
  EXPECT_EQ(batches[2].size(), 1);
  // drop_last drops the partial batch.
  o.drop_last = true;
  Loader dropping(ds, o);
  EXPECT_EQ(dropping.num_batches(), 2);
  EXPECT_EQ(all_batches(dropping).size(), 2u);
}

TEST(Loader, ShuffleIsAPermutationDependingOnSeedAndEpoch) {
  auto ds = std::make_shared<FakeDataset>(50);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = true;
  o.seed = 11;
  o.workers = 0;
  Loader a(ds, o), b(ds, o);
  auto ia = flat_indices(all_batches(a)), ib = flat_indices(all_batches(b));
  EXPECT_EQ(ia, ib);
  std::vector<int64_t> sorted = ia;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) ASSERT_EQ(sorted[i], i);
  std::vector<int64_t> identity(sorted);
  EXPECT_NE(ia, identity);
  a.set_epoch(1);
  EXPECT_NE(flat_indices(all_batches(a)), ib);
  o.seed = 12;
  Loader c(ds, o);
  EXPECT_NE(flat_indices(all_batches(c)), ib);
}

TEST(Loader, SameBatchesForAnyWorkerCount) {
  testing::TempDir dir;
  testing::write_text(dir / "lists/train.txt", testing::write_kitti(dir.path(), 48, 24, 6));
  DatasetOptions d;
  d.dataset = DatasetKind::kKitti;
  d.data_path = dir.path();
  d.window = false;
  std::shared_ptr<const Dataset> ds = make_dataset(d);
  AugmentOptions a;
  a.crop_h = 16;
  a.crop_w = 32;
  a.cutdepth_p = 0.5;
  auto aug = std::make_shared<Augmenter>(a, ds->defaults());
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    LoaderOptions o;
    o.batch_size = 2;
    o.workers = workers;
    o.shuffle = true;
    o.seed = 5;
    o.drop_last = true;
    Loader loader(ds, o, aug);
    loader.set_epoch(3);
    runs.push_back(all_batches(loader));
  }
  ASSERT_EQ(runs[0].size(), 3u);
  EXPECT_EQ(runs[0][0].image.sizes(), (std::vector<int64_t>{2, 3, 16, 32}));
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      EXPECT_EQ(runs[r][i].indices, runs[0][i].indices);
      EXPECT_TRUE(torch::equal(runs[r][i].image, runs[0][i].image));
      EXPECT_TRUE(torch::equal(runs[r][i].depth, runs[0][i].depth));
      EXPECT_TRUE(torch::equal(runs[r][i].intrinsics, runs[0][i].intrinsics));
    }
  }
  // The augmentation of a sample changes with the epoch.
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 1;
  Loader other(ds, o, aug);
  other.set_epoch(4);
  auto b4 = all_batches(other);
  other.set_epoch(3);
  auto b3 = all_batches(other);
  EXPECT_FALSE(torch::equal(b4[0].image, b3[0].image));
}

TEST(Loader, ShardingUsesEverySampleOnceWithEqualBatchCounts) {
  for (int64_t n : {10, 11, 12, 7}) {
    auto ds = std::make_shared<FakeDataset>(n);
    std::multiset<int64_t> seen;
    std::set<int64_t> counts;
    for (int rank = 0; rank < 3; ++rank) {
      LoaderOptions o;
      o.batch_size = 2;
      o.world_size = 3;
      o.rank = rank;
      o.shuffle = true;
      o.seed = 9;
      Loader loader(ds, o);
      auto batches = all_batches(loader);
      EXPECT_EQ(static_cast<int64_t>(batches.size()), loader.num_batches());
      counts.insert(batches.size());
      for (int64_t i : flat_indices(batches)) seen.insert(i);
    }
    EXPECT_EQ(counts.size(), 1u) << n;  // same number of batches on every rank
    ASSERT_EQ(static_cast<int64_t>(seen.size()), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen.count(i), 1u) << i;
  }
  auto ds = std::make_shared<FakeDataset>(7);
  LoaderOptions o;
  o.batch_size = 3;
  o.world_size = 3;
  o.rank = 2;
  Loader loader(ds, o);
  // 7 samples: rank 0 gets 3 (one batch of 3), ranks 1 and 2 get 2 (one batch of 2).
  auto b = all_batches(loader);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].indices, (std::vector<int64_t>{2, 5}));
  o.batch_size = 1;
  Loader padded(ds, o);  // ranks 0: 3 batches, rank 2: 2 samples + an empty batch
  auto p = all_batches(padded);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_TRUE(p[2].empty());
  EXPECT_EQ(p[2].image.size(0), 0);
  EXPECT_EQ(p[2].depth.dim(), 4);
}

TEST(Loader, DropLastShardsAreFullAndDisjoint) {
  auto ds = std::make_shared<FakeDataset>(23);
  std::set<int64_t> seen;
  for (int rank = 0; rank < 4; ++rank) {
    LoaderOptions o;
    o.batch_size = 2;
    o.world_size = 4;
    o.rank = rank;
    o.drop_last = true;
    o.shuffle = true;
    Loader loader(ds, o);
    EXPECT_EQ(loader.num_batches(), 2);  // 23/4 = 5 per rank -> 2 full batches
    for (const Batch& b : all_batches(loader)) {
      EXPECT_EQ(b.size(), 2);
      for (int64_t i : b.indices) EXPECT_TRUE(seen.insert(i).second) << "repeated " << i;
    }
  }
  EXPECT_EQ(seen.size(), 16u);
}

TEST(Loader, BadSampleIsAnErrorOrSkippedAndCounted) {
  auto ds = std::make_shared<FakeDataset>(6, std::set<int64_t>{2, 4});
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 2;
  Loader strict(ds, o);
  Batch b;
  strict.start();
  EXPECT_TRUE(strict.next(b));
  try {
    strict.next(b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fake line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/fake/2.png"), std::string::npos) << e.what();
  }
  o.skip_bad_samples = true;
  Loader lenient(ds, o);
  auto batches = all_batches(lenient);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(flat_indices(batches), (std::vector<int64_t>{0, 1, 3, 5}));
  EXPECT_EQ(lenient.skipped(), 2);
  auto messages = lenient.skipped_messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].find("/fake/"), std::string::npos);
}

TEST(Loader, BadFilesOnDiskAreSkippedByTheLoader) {
  testing::TempDir dir;
  std::string lines = testing::write_kitti(dir.path(), 40, 20, 4);
  std::filesystem::remove(dir / "raw_data/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000001.png");
  testing::write_text(dir / "lists/train.txt", lines);
  DatasetOptions d;
  d.dataset = DatasetKind::kKitti;
  d.data_path = dir.path();
  d.window = false;
  std::shared_ptr<const Dataset> ds = make_dataset(d);
  LoaderOptions o;
  o.batch_size = 4;
  o.skip_bad_samples = true;
  Loader loader(ds, o);
  auto batches = all_batches(loader);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].indices, (std::vector<int64_t>{0, 2, 3}));
  ASSERT_EQ(loader.skipped(), 1);
  EXPECT_NE(loader.skipped_messages()[0].find("line 2"), std::string::npos);
}

TEST(Loader, PrefetchIsBounded) {
  auto ds = std::make_shared<FakeDataset>(40);
  LoaderOptions o;
  o.batch_size = 1;
  o.workers = 2;
  o.prefetch = 1;  // capacity: 1 per worker -> at most 2 batches ahead of the consumer
  Loader loader(ds, o);
  loader.start();
  Batch b;
  ASSERT_TRUE(loader.next(b));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(ds->calls.load(), 1 + 2);
  EXPECT_GE(ds->calls.load(), 2);
  int n = 1;
  while (loader.next(b)) ++n;
  EXPECT_EQ(n, 40);
}

TEST(Loader, RejectsBadOptionsAndMixedSizes) {
  auto ds = std::make_shared<FakeDataset>(3);
  LoaderOptions o;
  o.rank = 2;
  o.world_size = 2;
  EXPECT_THROW(Loader(ds, o), Error);
  std::vector<Sample> samples = {ds->get(0), ds->get(1)};
  crop_sample(samples[1], 0, 0, 5, 10);
  EXPECT_THROW(collate(samples), Error);
}

}  // namespace
}  // namespace glpdepth
