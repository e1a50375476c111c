// `glpdepth predict` end to end on images of odd sizes written here, with b0 weights made by
// `glpdepth export`. Outputs are checked against each other and against the inputs: sizes,
// 16-bit PNG vs float .npy, the colour map vs colorize over the fixed range, and a PLY parsed
// here whose points must back-project onto the depth map and carry the pixel colours.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

using testing::CliRun;
using testing::run_cli;

Image8 random_image(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(0, 255);
  Image8 image(width, height, 3);
  for (auto& p : image.pixels) p = static_cast<uint8_t>(value(rng));
  return image;
}

struct PlyPoint {
  float x, y, z;
  uint8_t r, g, b;
};

// Binary little-endian PLY with "float x y z, uchar red green blue" vertices.
std::vector<PlyPoint> read_ply(const fs::path& path) {
  const std::string bytes = read_file_bytes(path);
  const size_t end = bytes.find("end_header\n");
  EXPECT_NE(end, std::string::npos);
  std::istringstream header(bytes.substr(0, end));
  std::string line;
  int64_t count = -1;
  std::vector<std::string> properties;
  bool binary = false;
  while (std::getline(header, line)) {
    std::istringstream words(line);
    std::string w;
    words >> w;
    if (w == "format") {
      words >> w;
      binary = w == "binary_little_endian";
    } else if (w == "element") {
      words >> w >> count;
    } else if (w == "property") {
      std::string type, name;
      words >> type >> name;
      properties.push_back(type + " " + name);
    }
  }
  EXPECT_TRUE(binary);
  EXPECT_EQ(properties, (std::vector<std::string>{"float x", "float y", "float z", "uchar red",
                                                  "uchar green", "uchar blue"}));
  const size_t start = end + std::strlen("end_header\n");
  EXPECT_EQ(bytes.size() - start, static_cast<size_t>(count) * 15);
  std::vector<PlyPoint> points(count);
  for (int64_t i = 0; i < count; ++i) {
    const char* p = bytes.data() + start + i * 15;
    std::memcpy(&points[i].x, p, 4);
    std::memcpy(&points[i].y, p + 4, 4);
    std::memcpy(&points[i].z, p + 8, 4);
    points[i].r = static_cast<uint8_t>(p[12]);
    points[i].g = static_cast<uint8_t>(p[13]);
    points[i].b = static_cast<uint8_t>(p[14]);
  }
  return points;
}

class PredictCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    weights_dir_ = new testing::TempDir();
    CliRun r = run_cli(*weights_dir_, "export --random_weights --encoder b0 --seed 3 --threads 1 --output " +
                                       (*weights_dir_ / "w.pth").string());
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete weights_dir_;
    weights_dir_ = nullptr;
  }
  static std::string weights() { return (*weights_dir_ / "w.pth").string(); }

  static testing::TempDir* weights_dir_;
  testing::TempDir dir_;
};
testing::TempDir* PredictCli::weights_dir_ = nullptr;

TEST_F(PredictCli, OddSizesRoundTripThroughPng16NpyAndPly) {
  struct Input {
    std::string name;
    int width, height;
  };
  // Two 50x70 images batch together; 37x81 runs alone.
  const std::vector<Input> inputs = {{"a", 50, 70}, {"b", 37, 81}, {"c", 50, 70}};
  std::vector<Image8> images;
  for (size_t i = 0; i < inputs.size(); ++i) {
    images.push_back(random_image(inputs[i].width, inputs[i].height, 10 + i));
    write_image(dir_ / "in" / (inputs[i].name + ".png"), images.back());
  }
  const double fx = 40.0, fy = 42.5, cx = 20.25, cy = 33.75;
  CliRun r = run_cli(dir_, "predict " + (dir_ / "in").string() + " --ckpt " + weights() +
                            " --output " + (dir_ / "out").string() +
                            " --batch_size 2 --threads 1 --save_png16 --save_npy --save_ply --save_panel"
                            " --intrinsics 40,42.5,20.25,33.75");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3 images"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ms per image"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("2 sizes, 2 batches"), std::string::npos) << r.err;

  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE(inputs[i].name);
    const int w = inputs[i].width, h = inputs[i].height;
    const fs::path base = dir_ / "out" / inputs[i].name;
    torch::Tensor npy = read_npy(base.string() + "_depth.npy");
    ASSERT_EQ(npy.sizes(), (torch::IntArrayRef{h, w}));
    EXPECT_GT(npy.min().item<float>(), 0.0f);
    EXPECT_LT(npy.max().item<float>(), 80.0f);

    Image16 png16 = read_png16(base.string() + "_depth16.png");
    ASSERT_EQ(png16.width, w);
    ASSERT_EQ(png16.height, h);
    const float* d = npy.data_ptr<float>();
    double worst = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        worst = std::max(worst, std::fabs(png16.at(x, y) / 256.0 - d[y * w + x]));
    EXPECT_LE(worst, 0.5 / 256 + 1e-6);

    // The colour map over the fixed range [0, max_depth = 80] (not the image's own range).
    Image8 colour = read_image(base.string() + "_depth.png", 3);
    ASSERT_EQ(colour.width, w);
    ASSERT_EQ(colour.height, h);
    EXPECT_EQ(colour.pixels, colorize(npy, Colormap::kTurbo, 0.0, 80.0).pixels);

    Image8 panel = read_image(base.string() + "_panel.png", 3);
    EXPECT_EQ(panel.height, h);
    EXPECT_GT(panel.width, 2 * w);

    std::vector<PlyPoint> points = read_ply(base.string() + ".ply");
    ASSERT_EQ(points.size(), static_cast<size_t>(w) * h);
    std::vector<int> seen(static_cast<size_t>(w) * h, 0);
    for (const PlyPoint& p : points) {
      const double u = p.x * fx / p.z + cx, v = p.y * fy / p.z + cy;
      const int ui = static_cast<int>(std::lround(u)), vi = static_cast<int>(std::lround(v));
      ASSERT_NEAR(u, ui, 1e-3);
      ASSERT_NEAR(v, vi, 1e-3);
      ASSERT_TRUE(ui >= 0 && ui < w && vi >= 0 && vi < h) << ui << "," << vi;
      EXPECT_NEAR(p.z, d[vi * w + ui], 1e-5);
      const uint8_t* rgb = images[i].at(ui, vi);
      EXPECT_EQ(p.r, rgb[0]);
      EXPECT_EQ(p.g, rgb[1]);
      EXPECT_EQ(p.b, rgb[2]);
      ++seen[vi * w + ui];
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), w * h);
  }
}

TEST_F(PredictCli, FlipTestAndBatchingDoNotChangeSizesAndBatchOneAgrees) {
  write_image(dir_ / "in" / "x.png", random_image(45, 33, 1));
  write_image(dir_ / "in" / "y.png", random_image(45, 33, 2));
  // The glob is quoted: the program expands it, not the shell.
  CliRun a = run_cli(dir_, "predict '" + (dir_ / "in" / "*.png").string() + "' --ckpt " + weights() +
                            " --output " + (dir_ / "a").string() +
                            " --batch_size 2 --flip_test --save_npy --threads 1");
  ASSERT_EQ(a.code, 0) << a.err;
  CliRun b = run_cli(dir_, "predict " + (dir_ / "in" / "y.png").string() + " --ckpt " + weights() +
                            " --output " + (dir_ / "b").string() +
                            " --batch_size 1 --flip_test --save_npy --save_png16 --threads 1");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_FALSE(fs::exists(dir_ / "a" / "x_depth16.png"));
  EXPECT_TRUE(fs::exists(dir_ / "b" / "y_depth16.png"));
  torch::Tensor batched = read_npy(dir_ / "a" / "y_depth.npy");
  torch::Tensor single = read_npy(dir_ / "b" / "y_depth.npy");
  ASSERT_EQ(batched.sizes(), (torch::IntArrayRef{33, 45}));
  EXPECT_TRUE(torch::allclose(batched, single, 1e-4, 1e-4));
  // The flip test is really on: a plain prediction differs.
  CliRun c = run_cli(dir_, "predict " + (dir_ / "in" / "y.png").string() + " --ckpt " + weights() +
                            " --output " + (dir_ / "c").string() + " --save_npy --threads 1");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_FALSE(torch::allclose(read_npy(dir_ / "c" / "y_depth.npy"), single, 1e-4, 1e-4));
}

TEST_F(PredictCli, UnreadableImageNamesTheFileAndWritesNothing) {
  write_image(dir_ / "in" / "good.png", random_image(40, 30, 1));
  write_bytes_atomic(dir_ / "in" / "broken.png", "not a png at all");
  CliRun r = run_cli(dir_, "predict " + (dir_ / "in").string() + " --ckpt " + weights() +
                            " --output " + (dir_ / "out").string() + " --threads 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "good_depth.png"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "good_depth16.png"));
}

TEST_F(PredictCli, UsageErrors) {
  write_image(dir_ / "in.png", random_image(40, 30, 1));
  CliRun ply = run_cli(dir_, "predict " + (dir_ / "in.png").string() + " --ckpt " + weights() +
                              " --output " + (dir_ / "out").string() + " --save_ply");
  EXPECT_EQ(ply.code, 2);
  EXPECT_NE(ply.err.find("--intrinsics"), std::string::npos) << ply.err;
  CliRun flag = run_cli(dir_, "predict " + (dir_ / "in.png").string() + " --no_such_flag");
  EXPECT_EQ(flag.code, 2);
  CliRun missing = run_cli(dir_, "predict " + (dir_ / "nope.png").string() + " --ckpt " + weights() +
                                  " --output " + (dir_ / "out").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("nope.png"), std::string::npos) << missing.err;
  CliRun ckpt = run_cli(dir_, "predict " + (dir_ / "in.png").string() + " --ckpt " +
                               (dir_ / "missing.pth").string() + " --output " +
                               (dir_ / "out").string());
  EXPECT_EQ(ckpt.code, 1);
  EXPECT_NE(ckpt.err.find("missing.pth"), std::string::npos) << ckpt.err;
}

TEST_F(PredictCli, KittiCalibFileGivesThePlyIntrinsics) {
  write_image(dir_ / "in.png", random_image(41, 29, 5));
  write_bytes_atomic(dir_ / "calib.txt",
                     "calib_time: 09-Jan-2012 13:57:47\n"
                     "P_rect_02: 30.5 0 19.5 44.85 0 31.25 14.0 0.2 0 0 1 0.003\n");
  CliRun r = run_cli(dir_, "predict " + (dir_ / "in.png").string() + " --ckpt " + weights() +
                            " --output " + (dir_ / "out").string() +
                            " --save_ply --save_npy --calib " + (dir_ / "calib.txt").string() +
                            " --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  torch::Tensor npy = read_npy(dir_ / "out" / "in_depth.npy");
  std::vector<PlyPoint> points = read_ply(dir_ / "out" / "in.ply");
  ASSERT_EQ(points.size(), 41u * 29u);
  for (const PlyPoint& p : points) {
    const double u = p.x * 30.5 / p.z + 19.5, v = p.y * 31.25 / p.z + 14.0;
    const int ui = static_cast<int>(std::lround(u)), vi = static_cast<int>(std::lround(v));
    ASSERT_NEAR(u, ui, 1e-3);
    ASSERT_NEAR(v, vi, 1e-3);
    EXPECT_NEAR(p.z, npy[vi][ui].item<float>(), 1e-5);
  }
}

}  // namespace
}  // namespace glpdepth

namespace glpdepth {
namespace {

// A second run into the same --output keeps the first run's files and says where it wrote;
// --overwrite writes into the folder itself.
TEST_F(PredictCli, ASecondRunNeverOverwritesTheFirstUnlessAskedTo) {
  write_image(dir_ / "in" / "x.png", random_image(40, 30, 7));
  const std::string args = "predict " + (dir_ / "in" / "x.png").string() + " --ckpt " + weights() +
                           " --output " + (dir_ / "out").string() + " --save_npy";
  ASSERT_EQ(run_cli(dir_, args).code, 0);
  const auto first = fs::last_write_time(dir_ / "out" / "x_depth.npy");
  const CliRun second = run_cli(dir_, args);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_TRUE(fs::exists(dir_ / "out_2" / "x_depth.npy"));
  EXPECT_EQ(fs::last_write_time(dir_ / "out" / "x_depth.npy"), first);
  EXPECT_NE(second.err.find("holds an earlier run's results; writing to " +
                            (dir_ / "out_2").string()),
            std::string::npos)
      << second.err;
  ASSERT_EQ(run_cli(dir_, args + " --overwrite").code, 0);
  EXPECT_FALSE(fs::exists(dir_ / "out_3"));
}

}  // namespace
}  // namespace glpdepth
