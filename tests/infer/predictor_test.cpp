// DepthPredictor: sizes, flip test, camera-aware rescale and its errors, checked against the
// model's own forward and against arithmetic written here.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>

#include "common/errors.h"
#include "common/temp_dir.h"
#include "common/varied_model.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

GLPDepth varied_b0(double canonical_focal = 0) {
  return testing::varied_b0(21, canonical_focal);
}

Image8 random_image(int width, int height, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor values = torch::randint(0, 256, {height * width * 3}, torch::kInt32);
  Image8 image(width, height, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<uint8_t>(values[static_cast<int64_t>(i)].item<int>());
  return image;
}

using testing::error_of;

TEST(DepthPredictor, AnySizeComesBackAtInputSize) {
  DepthPredictor predictor(varied_b0(), PredictorOptions{});
  torch::Tensor one = predictor.predict(random_image(53, 37, 1));
  EXPECT_EQ(one.sizes(), (torch::IntArrayRef{37, 53}));
  EXPECT_EQ(one.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(one.device().is_cpu());
  torch::Tensor batch = predictor.predict(torch::rand({2, 3, 45, 70}));
  EXPECT_EQ(batch.sizes(), (torch::IntArrayRef{2, 1, 45, 70}));
  EXPECT_GT(batch.min().item<float>(), 0.0f);
  EXPECT_LT(batch.max().item<float>(), 80.0f);
}

TEST(DepthPredictor, ImageEqualsTheBatchOfTheLoaders) {
  DepthPredictor predictor(varied_b0(), PredictorOptions{});
  const Image8 image = random_image(64, 40, 2);
  Sample sample;
  sample.rgb = image;
  torch::Tensor from_batch = predictor.predict(collate({sample}))[0][0];
  EXPECT_TRUE(torch::equal(predictor.predict(image), from_batch));
}

TEST(DepthPredictor, FlipTestIsTheMeanOfThePlainAndTheMirroredPass) {
  GLPDepth model = varied_b0();
  PredictorOptions flip;
  flip.flip_test = true;
  DepthPredictor plain(model, PredictorOptions{}), flipped(model, flip);
  torch::Tensor images = torch::rand({2, 3, 64, 96});
  torch::Tensor expected =
      0.5 * (plain.predict(images) + plain.predict(images.flip({3})).flip({3}));
  torch::Tensor got = flipped.predict(images);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5)) << (got - expected).abs().max();
  EXPECT_FALSE(torch::allclose(got, plain.predict(images), 1e-3, 1e-3));  // it is really on
}

TEST(DepthPredictor, CameraAwareDepthScalesWithEachImagesFocalLength) {
  GLPDepth model = varied_b0(100.0);
  DepthPredictor predictor(model, PredictorOptions{});
  ASSERT_TRUE(predictor.camera_aware());
  torch::Tensor images = torch::rand({2, 3, 32, 64});
  torch::Tensor intrinsics = torch::tensor({{50.f, 50.f, 32.f, 16.f}, {250.f, 250.f, 32.f, 16.f}});
  torch::Tensor aware = predictor.predict(images, intrinsics);
  model->set_canonical_focal(0);  // the same network read as a metric model
  torch::Tensor network = predictor.predict(images);
  EXPECT_TRUE(torch::allclose(aware[0], network[0] * 0.5f, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(aware[1], network[1] * 2.5f, 1e-5, 1e-6));
  // One image: the intrinsics come with it.
  model->set_canonical_focal(100.0);
  const Image8 image = random_image(64, 32, 3);
  torch::Tensor single = predictor.predict(image, Intrinsics{200, 200, 32, 16});
  model->set_canonical_focal(0);
  EXPECT_TRUE(torch::allclose(single, predictor.predict(image) * 2.0f, 1e-5, 1e-6));
}

TEST(DepthPredictor, WrongUseNamesItsCause) {
  testing::TempDir dir;
  // A missing file.
  std::string message = error_of([&] { DepthPredictor::open(dir.path() / "absent.ckpt"); });
  EXPECT_NE(message.find("absent.ckpt"), std::string::npos) << message;
  // A file that is not weights.
  std::ofstream(dir.path() / "notes.ckpt") << "not a checkpoint";
  message = error_of([&] { DepthPredictor::open(dir.path() / "notes.ckpt"); });
  EXPECT_NE(message.find("notes.ckpt"), std::string::npos) << message;
  // An encoder that does not match the weights.
  write_state_dict(dir.path() / "b0.pth", module_state_dict(*varied_b0()));
  PredictorOptions b1;
  b1.model.encoder = MitEncoder::kB1;
  EXPECT_THROW(DepthPredictor::open(dir.path() / "b0.pth", b1), UsageError);
  message = error_of([&] { DepthPredictor::open(dir.path() / "b0.pth", b1); });
  EXPECT_NE(message.find("--encoder b1"), std::string::npos) << message;
  EXPECT_NE(message.find("MiT-b0"), std::string::npos) << message;
  // A camera-aware model without a focal length.
  PredictorOptions aware;
  aware.model.canonical_focal = 700;
  DepthPredictor predictor = DepthPredictor::open(dir.path() / "b0.pth", aware);
  EXPECT_TRUE(predictor.camera_aware());
  message = error_of([&] { predictor.predict(random_image(32, 32, 4)); });
  EXPECT_NE(message.find("intrinsics"), std::string::npos) << message;
  message = error_of([&] { predictor.predict(random_image(32, 32, 4), Intrinsics{0, 0, 16, 16}); });
  EXPECT_NE(message.find("focal length"), std::string::npos) << message;
  message = error_of([&] { predictor.require_intrinsics(false, "predict"); });
  EXPECT_NE(message.find("--intrinsics"), std::string::npos) << message;
  // A negative canonical focal.
  PredictorOptions negative;
  negative.model.canonical_focal = -1;
  EXPECT_THROW(DepthPredictor::open(dir.path() / "b0.pth", negative), UsageError);
  // Reduced precision on the CPU.
  PredictorOptions half;
  half.precision = Precision::kFloat16;
  message = error_of([&] { DepthPredictor::open(dir.path() / "b0.pth", half); });
  EXPECT_NE(message.find("--device cuda"), std::string::npos) << message;
}

TEST(DepthPredictor, FilesThatRecordTheModeBindTheFlag) {
  testing::TempDir dir;
  GLPDepth model = varied_b0();
  PredictorOptions options;
  // A plain state_dict says nothing: the option decides.
  write_state_dict(dir.path() / "plain.pth", module_state_dict(*model));
  options.model.canonical_focal = 321;
  EXPECT_EQ(DepthPredictor::open(dir.path() / "plain.pth", options).model_options().canonical_focal, 321);
  EXPECT_FALSE(DepthPredictor::open(dir.path() / "plain.pth").camera_aware());
  EXPECT_EQ(DepthPredictor::random_weights(options).model_options().canonical_focal, 321);
}

}  // namespace
}  // namespace glpdepth
