// run_pipeline: batches reach the writer in order with the depth of their own images, memory
// stays bounded (the decoder never runs more than the queues allow ahead of the writer), and a
// failure in any stage stops the others and comes back to the caller.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <mutex>

#include "glpdepth/infer/pipeline.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

DepthPredictor small_predictor() {
  torch::manual_seed(3);
  GLPDepthOptions options;
  options.encoder = "b0";
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

TEST(Pipeline, WritesEveryBatchInOrderWithItsOwnDepth) {
  torch::set_num_threads(1);
  DepthPredictor predictor = small_predictor();
  std::vector<std::string> names;
  std::vector<torch::Tensor> depths;
  const PipelineStats stats = run_pipeline(
      5, batch_of, predictor, [&](const std::vector<Sample>& samples, const torch::Tensor& depth) {
        for (const Sample& s : samples) names.push_back(s.name);
        depths.push_back(depth);
      });
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
  run_pipeline(
      12,
      [&](int64_t b) {
        const int64_t ahead = decoded++ - written;
        int64_t seen = worst;
        while (ahead > seen && !worst.compare_exchange_weak(seen, ahead)) {
        }
        return batch_of(b);
      },
      predictor,
      [&](const std::vector<Sample>&, const torch::Tensor&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow disk
        ++written;
      },
      options);
  EXPECT_EQ(written, 12);
  // One batch in each queue, one in the network, one in the writer, one being decoded.
  EXPECT_LE(worst, 4);
  EXPECT_GE(worst, 2);  // and it did run ahead: the stages overlap
}

TEST(Pipeline, ADecodeFailureStopsTheRunAndNothingAfterItIsWritten) {
  DepthPredictor predictor = small_predictor();
  std::vector<std::string> written;
  try {
    run_pipeline(
        6,
        [](int64_t b) {
          if (b == 3) throw Error("frame 3: cannot decode");
          return batch_of(b);
        },
        predictor,
        [&](const std::vector<Sample>& samples, const torch::Tensor&) {
          written.push_back(samples[0].name);
        });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "frame 3: cannot decode");
  }
  EXPECT_LE(written.size(), 3u);
  for (size_t i = 0; i < written.size(); ++i) EXPECT_EQ(written[i], std::to_string(i) + ".0");
}

TEST(Pipeline, AWriteFailureStopsDecodingEarly) {
  DepthPredictor predictor = small_predictor();
  std::atomic<int64_t> decoded{0};
  EXPECT_THROW(run_pipeline(
                   100,
                   [&](int64_t b) {
                     ++decoded;
                     return batch_of(b);
                   },
                   predictor,
                   [](const std::vector<Sample>&, const torch::Tensor&) {
                     throw Error("disk full");
                   }),
               Error);
  EXPECT_LT(decoded, 10);
}

}  // namespace
}  // namespace glpdepth
