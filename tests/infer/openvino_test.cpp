// The OpenVINO backend against LibTorch: the same weights, sizes (padding), batches, flip test
// and camera-aware rescale give the same depth in float32 (relative L2 <= 1e-5), and the
// backend choice follows the documented rules.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <thread>

#include "common/errors.h"
#include "common/openvino.h"
#include "common/temp_dir.h"
#include "common/varied_model.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

GLPDepth varied_b0(double canonical_focal = 0) {
  return testing::varied_b0(33, canonical_focal);
}

double relative_l2(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

PredictorOptions on(Backend backend, bool flip = false) {
  PredictorOptions options;
  options.backend = backend;
  options.flip_test = flip;
  return options;
}

using testing::error_of;

TEST(OpenVino, Float32MatchesLibTorchOnOddSizesBatchesAndFlip) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  torch::set_num_threads(1);
  GLPDepth model = varied_b0();
  DepthPredictor torch_side(model, on(Backend::kLibTorch));
  for (bool flip : {false, true}) {
    DepthPredictor openvino(model, on(Backend::kOpenVino, flip));
    DepthPredictor reference(model, on(Backend::kLibTorch, flip));
    ASSERT_EQ(openvino.backend(), Backend::kOpenVino);
    torch::manual_seed(4);
    // 94x311: pads to 96x320; 64x96: a multiple of 32, no padding; batch 3.
    for (const auto& images : {torch::rand({1, 3, 94, 311}), torch::rand({3, 3, 64, 96})}) {
      const torch::Tensor expected = reference.predict(images);
      const torch::Tensor got = openvino.predict(images);
      ASSERT_EQ(got.sizes(), expected.sizes());
      EXPECT_LE(relative_l2(got, expected), 1e-5) << "flip " << flip << " " << images.sizes();
    }
  }
  // The flip test really changes the answer (else the check above proves nothing about it).
  const torch::Tensor image = torch::rand({1, 3, 64, 96});
  DepthPredictor plain(model, on(Backend::kOpenVino));
  DepthPredictor flipped(model, on(Backend::kOpenVino, true));
  EXPECT_GT(relative_l2(flipped.predict(image), plain.predict(image)), 1e-4);
}

TEST(OpenVino, CameraAwareOutputIsRescaledPerImage) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  torch::set_num_threads(1);
  GLPDepth model = varied_b0(/*canonical_focal=*/500.0);
  DepthPredictor openvino(model, on(Backend::kOpenVino));
  DepthPredictor reference(model, on(Backend::kLibTorch));
  const torch::Tensor images = torch::rand({2, 3, 64, 64}).index_select(0, torch::tensor({0, 0}));
  const torch::Tensor intrinsics = torch::tensor({{500.0f, 500.0f, 32.0f, 32.0f},
                                                  {1000.0f, 1000.0f, 32.0f, 32.0f}});
  const torch::Tensor got = openvino.predict(images, intrinsics);
  EXPECT_LE(relative_l2(got, reference.predict(images, intrinsics)), 1e-5);
  // Same image, twice the focal length: twice the depth.
  EXPECT_LE(relative_l2(got[1], 2 * got[0]), 1e-6);
  EXPECT_NE(error_of([&] { openvino.predict(images); }).find("intrinsics"), std::string::npos);
}

TEST(OpenVino, AutoPicksOpenVinoForFilesAndLibTorchForModelsInMemory) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  glpdepth::testing::TempDir dir;
  GLPDepth model = varied_b0();
  const auto path = dir / "weights.pth";
  write_state_dict(path, module_state_dict(*model));
  DepthPredictor from_file = DepthPredictor::open(path, on(Backend::kAuto));
  EXPECT_EQ(from_file.backend(), Backend::kOpenVino);
  EXPECT_NE(from_file.describe_runtime().find("openvino fp32"), std::string::npos)
      << from_file.describe_runtime();
  // Being trained (validation): LibTorch unless asked otherwise.
  EXPECT_EQ(DepthPredictor(model, on(Backend::kAuto)).backend(), Backend::kLibTorch);
  // What the file gives through OpenVINO is what LibTorch gives.
  const torch::Tensor images = torch::rand({1, 3, 40, 72});
  EXPECT_LE(relative_l2(from_file.predict(images),
                        DepthPredictor(model, on(Backend::kLibTorch)).predict(images)),
            1e-5);
}

TEST(OpenVino, RefusesWhatItCannotRun) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  PredictorOptions fp16 = on(Backend::kOpenVino);
  fp16.precision = Precision::kFloat16;
  EXPECT_THROW(DepthPredictor(varied_b0(), fp16), UsageError);
  // Auto never picks a backend that cannot run the request: fp16 stays with LibTorch (which
  // then refuses it on the CPU with its own message).
  PredictorOptions auto_fp16 = on(Backend::kAuto);
  auto_fp16.precision = Precision::kFloat16;
  EXPECT_NE(error_of([&] { DepthPredictor::random_weights(auto_fp16); }).find("fp16"),
            std::string::npos);
}

TEST(OpenVino, Bfloat16StaysCloseToFloat32) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  torch::set_num_threads(1);
  GLPDepth model = varied_b0();
  PredictorOptions bf16 = on(Backend::kOpenVino);
  bf16.precision = Precision::kBFloat16;
  DepthPredictor fast(model, bf16);
  EXPECT_EQ(fast.precision(), Precision::kBFloat16);
  const torch::Tensor images = torch::rand({1, 3, 64, 128});
  const double error = relative_l2(fast.predict(images),
                                   DepthPredictor(model, on(Backend::kOpenVino)).predict(images));
  EXPECT_LT(error, 2e-2);
}

// The throughput hint: as many parallel calls as threads, each with the latency hint's depth;
// LibTorch and the latency hint stay at one call.
TEST(OpenVino, ThroughputHintRunsOneCallPerThreadWithTheSameDepth) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  torch::set_num_threads(2);
  GLPDepth model = varied_b0();
  PredictorOptions throughput = on(Backend::kOpenVino);
  throughput.hint = PerformanceHint::kThroughput;
  DepthPredictor streams(model, throughput);
  DepthPredictor latency(model, on(Backend::kOpenVino));
  PredictorOptions torch_throughput = on(Backend::kLibTorch);
  torch_throughput.hint = PerformanceHint::kThroughput;
  EXPECT_EQ(streams.parallel_calls(), 2);
  EXPECT_EQ(latency.parallel_calls(), 1);
  EXPECT_EQ(DepthPredictor(model, torch_throughput).parallel_calls(), 1);
  EXPECT_NE(streams.describe_runtime().find("throughput: 2 images at once"), std::string::npos)
      << streams.describe_runtime();
  torch::manual_seed(5);
  const torch::Tensor images = torch::rand({2, 3, 94, 311});
  const torch::Tensor expected = latency.predict(images);
  torch::Tensor got[2];
  std::thread other([&] { got[1] = streams.predict(images); });
  got[0] = streams.predict(images);
  other.join();
  for (const torch::Tensor& depth : got) EXPECT_LE(relative_l2(depth, expected), 1e-5);
}

TEST(Backend, PerformanceHintNamesParseAndRoundTrip) {
  for (PerformanceHint h : {PerformanceHint::kLatency, PerformanceHint::kThroughput})
    EXPECT_EQ(parse_performance_hint(to_string(h)), h);
  EXPECT_EQ(parse_performance_hint("Throughput"), PerformanceHint::kThroughput);
  EXPECT_NE(error_of([] { parse_performance_hint("fast"); }).find("--performance_hint fast"),
            std::string::npos);
}

TEST(Backend, NamesParseOnceAndRoundTrip) {
  for (Backend b : {Backend::kAuto, Backend::kLibTorch, Backend::kOpenVino})
    EXPECT_EQ(parse_backend(to_string(b)), b);
  EXPECT_EQ(parse_backend("OpenVINO"), Backend::kOpenVino);
  EXPECT_EQ(parse_backend("torch"), Backend::kLibTorch);
  EXPECT_THROW(parse_backend("tensorrt"), UsageError);
}

TEST(Backend, ExplicitOpenVinoWithoutItIsAnErrorNotAFallback) {
  if (openvino_available()) GTEST_SKIP() << "this build has OpenVINO";
  EXPECT_NE(error_of([] { DepthPredictor(varied_b0(), on(Backend::kOpenVino)); })
                .find("without OpenVINO"),
            std::string::npos);
  EXPECT_EQ(DepthPredictor::random_weights(on(Backend::kAuto)).backend(), Backend::kLibTorch);
}

}  // namespace
}  // namespace glpdepth
