// DepthStream: depth comes out in push order with each frame's time stamp and equals the
// predictor's depth of that frame; memory is bounded (push blocks while the queues are full and
// nobody pops); close() drains; stop() ends early; a failure comes back to the caller; frames of
// one size that wait together share a forward pass only when asked.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "glpdepth/infer/predictor.h"
#include "glpdepth/infer/stream.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

DepthPredictor small_predictor(double canonical_focal = 0) {
  torch::manual_seed(5);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.canonical_focal = canonical_focal;
  PredictorOptions predictor;
  predictor.backend = Backend::kLibTorch;
  return DepthPredictor(GLPDepth(options), predictor);
}

// A 40x32 frame whose pixels vary with `seed`, so that each frame has its own depth.
Image8 frame_image(int seed, int width = 40, int height = 32) {
  Image8 image(width, height, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<uint8_t>((i * 7 + static_cast<size_t>(seed) * 31) % 251);
  return image;
}

TEST(DepthStream, DepthComesOutInOrderWithTimeStampsAndEqualsThePredictor) {
  torch::set_num_threads(1);
  DepthPredictor predictor = small_predictor();
  std::vector<torch::Tensor> expected;
  for (int i = 0; i < 6; ++i) expected.push_back(predictor.predict(frame_image(i)));
  DepthStream stream(predictor);
  std::vector<StreamDepth> out;
  std::thread consumer([&] {
    while (auto depth = stream.pop()) out.push_back(std::move(*depth));
  });
  for (int i = 0; i < 6; ++i) stream.push({frame_image(i), 0.1 * i});
  stream.close();
  consumer.join();
  ASSERT_EQ(out.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(out[static_cast<size_t>(i)].index, i);
    EXPECT_DOUBLE_EQ(out[static_cast<size_t>(i)].time, 0.1 * i);
    EXPECT_EQ(out[static_cast<size_t>(i)].name, "frame " + std::to_string(i));
    EXPECT_TRUE(torch::allclose(out[static_cast<size_t>(i)].depth, expected[static_cast<size_t>(i)], 1e-6, 1e-6))
        << "frame " << i;
  }
  EXPECT_EQ(stream.pushed(), 6);
  EXPECT_EQ(stream.popped(), 6);
  EXPECT_THROW(stream.push({frame_image(0)}), Error);  // closed
}

TEST(DepthStream, PushBlocksWhileNobodyPopsSoMemoryStaysBounded) {
  torch::set_num_threads(1);
  DepthPredictor predictor = small_predictor();
  DepthStreamOptions options;
  options.capacity = 1;
  DepthStream stream(predictor, options);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 0; i < 20; ++i) {
      stream.push({frame_image(i)});
      ++pushed;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // Nobody pops: the input and output queues (1 each), the pipeline's two hand-overs (1 each)
  // and the frame each of its three stages holds: 2 x capacity + 5 = 7; the producer waits.
  const int stalled = pushed;
  EXPECT_LE(stalled, 7);
  EXPECT_GE(stalled, 2);
  int popped = 0;
  while (popped < 20) {
    auto depth = stream.pop();
    ASSERT_TRUE(depth.has_value());
    EXPECT_EQ(depth->index, popped);
    ++popped;
  }
  producer.join();
  EXPECT_EQ(pushed, 20);
}

TEST(DepthStream, StopEndsEarlyAndDropsWhatWaits) {
  DepthPredictor predictor = small_predictor();
  auto stream = std::make_unique<DepthStream>(predictor);
  for (int i = 0; i < 3; ++i) stream->push({frame_image(i)});
  stream->stop();
  EXPECT_THROW(stream->push({frame_image(9)}), Error);
  int more = 0;
  while (stream->pop()) ++more;
  EXPECT_EQ(more, 0);  // stop() drops the depth that waited too
  const auto start = std::chrono::steady_clock::now();
  stream.reset();  // the thread ends without predicting the dropped frames
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

TEST(DepthStream, AFailureComesBackToTheCaller) {
  DepthPredictor predictor = small_predictor(/*canonical_focal=*/700.0);  // needs intrinsics
  DepthStream stream(predictor);
  stream.push({frame_image(0)});  // no intrinsics: the network refuses
  EXPECT_THROW(
      {
        while (stream.pop()) {
        }
      },
      Error);
  EXPECT_THROW(stream.push({frame_image(1)}), Error);
  Image8 gray(40, 32, 1);
  DepthStream other(predictor);
  EXPECT_THROW(other.push({gray}), Error);  // not RGB: refused at the door
}

TEST(DepthStream, BatchingWaitingFramesKeepsOrderAcrossSizeChanges) {
  torch::set_num_threads(1);
  DepthPredictor predictor = small_predictor();
  DepthStreamOptions options;
  options.capacity = 4;
  options.max_batch = 4;
  DepthStream stream(predictor, options);
  // Sizes change mid-stream: a frame of another size never joins the batch before it.
  const std::vector<int> widths = {40, 40, 64, 64, 40};
  for (size_t i = 0; i < widths.size(); ++i) stream.push({frame_image(static_cast<int>(i), widths[i])});
  stream.close();
  int64_t index = 0;
  while (auto depth = stream.pop()) {
    EXPECT_EQ(depth->index, index);
    EXPECT_EQ(depth->depth.size(1), widths[static_cast<size_t>(index)]);
    EXPECT_TRUE(torch::allclose(depth->depth,
                                predictor.predict(frame_image(static_cast<int>(index), widths[static_cast<size_t>(index)])),
                                1e-5, 1e-5));
    ++index;
  }
  EXPECT_EQ(index, 5);
}

}  // namespace
}  // namespace glpdepth
