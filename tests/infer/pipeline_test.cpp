// run_pipeline: batches reach the sinks in order with the depth of their own images, memory
// stays bounded (the source never runs more than the queues allow ahead of the sinks), a
// failure in any stage stops the others and comes back to the caller, and finish() comes once,
// only after a run that did not fail. The sources of predict (plan_batches_by_size) and of
// evaluate (a loader with a network window) hand over what they promise.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <functional>
#include <mutex>

#include "../common/temp_dir.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/infer/pipeline.h"
#include "glpdepth/io/image.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

DepthPredictor small_predictor() {
  torch::manual_seed(3);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  PredictorOptions predictor;
  predictor.backend = Backend::kLibTorch;
  return DepthPredictor(GLPDepth(options), predictor);
}

// Batch b: two 32x40 images whose pixels all equal (b*2+k)/255, named "b.k".
std::vector<Sample> batch_of(int64_t b) {
  std::vector<Sample> samples;
  for (int k = 0; k < 2; ++k) {
    Sample s;
    s.rgb = Image8(40, 32, 3);
    std::fill(s.rgb.pixels.begin(), s.rgb.pixels.end(), static_cast<uint8_t>(b * 2 + k));
    s.name = std::to_string(b) + "." + std::to_string(k);
    samples.push_back(s);
  }
  return samples;
}

// Batches 0 .. count-1 from `decode`.
class CountedSource final : public FrameSource {
 public:
  CountedSource(int64_t count, std::function<std::vector<Sample>(int64_t)> decode)
      : count_(count), decode_(std::move(decode)) {}
  bool next(Frames& frames) override {
    if (next_ >= count_) return false;
    frames = Frames();
    frames.samples = decode_(next_++);
    frames.batch = collate(frames.samples);
    return true;
  }

 private:
  int64_t count_, next_ = 0;
  std::function<std::vector<Sample>(int64_t)> decode_;
};

// Counts finish() calls.
class FinishCounter final : public DepthSink {
 public:
  void write(const Frames&) override {}
  void finish() override { ++finished; }
  int finished = 0;
};

TEST(Pipeline, WritesEveryBatchInOrderWithItsOwnDepth) {
  torch::set_num_threads(1);
  DepthPredictor predictor = small_predictor();
  std::vector<std::string> names;
  std::vector<torch::Tensor> depths;
  CountedSource source(5, batch_of);
  auto sink = function_sink([&](const Frames& frames) {
    for (const Sample& s : frames.samples) names.push_back(s.name);
    depths.push_back(frames.prediction);
  });
  FinishCounter finish;
  const PipelineStats stats = run_pipeline(source, predictor, {sink.get(), &finish});
  EXPECT_EQ(finish.finished, 1);
  EXPECT_EQ(stats.batches, 5);
  EXPECT_EQ(stats.images, 10);
  EXPECT_GT(stats.model_seconds, 0);
  EXPECT_GE(stats.seconds, stats.model_seconds);
  ASSERT_EQ(names.size(), 10u);
  for (int64_t b = 0; b < 5; ++b) {
    EXPECT_EQ(names[static_cast<size_t>(2 * b)], std::to_string(b) + ".0");
    // The depth handed over is the prediction of exactly these images.
    EXPECT_TRUE(torch::allclose(depths[static_cast<size_t>(b)],
                                predictor.predict(collate(batch_of(b))), 0, 0));
  }
}

TEST(Pipeline, DecoderStaysWithinTheQueuesAheadOfTheWriter) {
  torch::set_num_threads(1);
  DepthPredictor predictor = small_predictor();
  PipelineOptions options;
  options.decode_ahead = 1;
  options.write_behind = 1;
  std::atomic<int64_t> decoded{0}, written{0}, worst{0};
  CountedSource source(12, [&](int64_t b) {
    const int64_t ahead = decoded++ - written;
    int64_t seen = worst;
    while (ahead > seen && !worst.compare_exchange_weak(seen, ahead)) {
    }
    return batch_of(b);
  });
  auto sink = function_sink([&](const Frames&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow disk
    ++written;
  });
  run_pipeline(source, predictor, {sink.get()}, options);
  EXPECT_EQ(written, 12);
  // One batch in each queue, one in the network, one in the writer, one being decoded.
  EXPECT_LE(worst, 4);
  EXPECT_GE(worst, 2);  // and it did run ahead: the stages overlap
}

TEST(Pipeline, ADecodeFailureStopsTheRunAndNothingAfterItIsWritten) {
  DepthPredictor predictor = small_predictor();
  std::vector<std::string> written;
  CountedSource source(6, [](int64_t b) {
    if (b == 3) throw Error("frame 3: cannot decode");
    return batch_of(b);
  });
  auto sink = function_sink([&](const Frames& frames) { written.push_back(frames.samples[0].name); });
  FinishCounter finish;
  try {
    run_pipeline(source, predictor, {sink.get(), &finish});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "frame 3: cannot decode");
  }
  EXPECT_EQ(finish.finished, 0);  // a video would not be closed as if complete
  EXPECT_LE(written.size(), 3u);
  for (size_t i = 0; i < written.size(); ++i) EXPECT_EQ(written[i], std::to_string(i) + ".0");
}

TEST(Pipeline, AWriteFailureStopsDecodingEarly) {
  DepthPredictor predictor = small_predictor();
  std::atomic<int64_t> decoded{0};
  CountedSource source(100, [&](int64_t b) {
    ++decoded;
    return batch_of(b);
  });
  auto sink = function_sink([](const Frames&) { throw Error("disk full"); });
  EXPECT_THROW(run_pipeline(source, predictor, {sink.get()}), Error);
  EXPECT_LT(decoded, 10);
}

// predict's plan: batches of one size each, sizes in order of first appearance, files in their
// sorted order within a size, no batch over the limit; and the dataset source hands over
// exactly those images with their decoded samples.
// Parallel network calls (OpenVINO's throughput streams): a stub whose calls take longer for
// earlier batches finishes them out of order, yet the sinks see the source's order with each
// batch's own depth, and the calls really overlapped.
TEST(Pipeline, ParallelCallsOverlapAndTheSinksStillSeeTheSourcesOrder) {
  std::atomic<int> running{0}, most{0};
  const DepthFunction slow_first = [&](const torch::Tensor& images, const torch::Tensor&) {
    const int now = ++running;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    // Batch b's pixels are (2b)/255: earlier batches sleep longer and finish last.
    const int64_t b = std::lround(images[0][0][0][0].item<double>() * 255.0 / 2.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * (8 - b)));
    --running;
    return images.mean(1, true) * 10.0;
  };
  CountedSource source(8, batch_of);
  std::vector<std::string> names;
  std::vector<torch::Tensor> depths;
  auto sink = function_sink([&](const Frames& frames) {
    for (const Sample& s : frames.samples) names.push_back(s.name);
    depths.push_back(frames.prediction);
  });
  FinishCounter finish;
  PipelineOptions options;
  options.parallel_calls = 3;
  const PipelineStats stats = run_pipeline(source, slow_first, {sink.get(), &finish}, options);
  EXPECT_EQ(stats.parallel_calls, 3);
  EXPECT_EQ(stats.batches, 8);
  EXPECT_EQ(stats.images, 16);
  EXPECT_EQ(finish.finished, 1);
  EXPECT_GE(most.load(), 2);
  EXPECT_LE(most.load(), 3);
  ASSERT_EQ(names.size(), 16u);
  ASSERT_EQ(depths.size(), 8u);
  for (int64_t b = 0; b < 8; ++b) {
    EXPECT_EQ(names[static_cast<size_t>(2 * b)], std::to_string(b) + ".0");
    EXPECT_EQ(names[static_cast<size_t>(2 * b + 1)], std::to_string(b) + ".1");
    EXPECT_NEAR(depths[static_cast<size_t>(b)][1][0][0][0].item<double>(),
                10.0 * (2 * b + 1) / 255.0, 1e-5);
  }
}

TEST(Pipeline, AFailedParallelCallStopsTheOthersAndNothingAfterItIsWritten) {
  const DepthFunction fails_at_4 = [](const torch::Tensor& images, const torch::Tensor&) {
    const int64_t b = std::lround(images[0][0][0][0].item<double>() * 255.0 / 2.0);
    if (b == 4) throw Error("batch 4: the network failed");
    return images.mean(1, true);
  };
  CountedSource source(50, batch_of);
  std::vector<std::string> names;
  auto sink = function_sink([&](const Frames& frames) { names.push_back(frames.samples[0].name); });
  FinishCounter finish;
  PipelineOptions options;
  options.parallel_calls = 2;
  try {
    run_pipeline(source, fails_at_4, {sink.get(), &finish}, options);
    ADD_FAILURE() << "the failure did not reach the caller";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch 4: the network failed"), std::string::npos);
  }
  EXPECT_EQ(finish.finished, 0);
  // In order up to the failure at most: never batch 4, never a gap.
  ASSERT_LE(names.size(), 4u);
  for (size_t b = 0; b < names.size(); ++b) EXPECT_EQ(names[b], std::to_string(b) + ".0");
}

TEST(Pipeline, PlanGroupsImagesBySizeAndTheDatasetSourceFollowsIt) {
  testing::TempDir dir;
  const std::vector<std::pair<int, int>> sizes = {{40, 32}, {64, 32}, {40, 32}, {40, 32}, {64, 32}};
  for (size_t i = 0; i < sizes.size(); ++i) {
    Image8 image(sizes[i].first, sizes[i].second, 3);
    image.pixels[0] = static_cast<uint8_t>(i);
    write_image(dir / ("f" + std::to_string(i) + ".png"), image);
  }
  DatasetOptions options;
  options.dataset = DatasetKind::kFolder;
  options.inputs = {dir.path().string()};
  std::shared_ptr<const Dataset> dataset = make_dataset(options);
  int64_t distinct = 0;
  const auto plan = plan_batches_by_size(*dataset, 2, &distinct);
  EXPECT_EQ(distinct, 2);
  const std::vector<std::vector<int64_t>> expected = {{0, 2}, {3}, {1, 4}};
  EXPECT_EQ(plan, expected);
  auto source = dataset_frames(dataset, plan);
  EXPECT_EQ(source->frame_count(), 5);
  Frames frames;
  std::vector<int> first_pixels;
  while (source->next(frames)) {
    ASSERT_EQ(frames.samples.size(), static_cast<size_t>(frames.size()));
    for (const Sample& s : frames.samples) first_pixels.push_back(s.rgb.pixels[0]);
    EXPECT_FALSE(frames.batch.depth.defined());  // a folder of images has no ground truth
  }
  EXPECT_EQ(first_pixels, (std::vector<int>{0, 2, 3, 1, 4}));
  EXPECT_THROW(plan_batches_by_size(*dataset, 0), Error);
}

}  // namespace
}  // namespace glpdepth
