#include "glpdepth/io/depth_outputs.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/temp_dir.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

torch::Tensor random_depth(int h, int w, uint64_t seed, float invalid_fraction = 0.2f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.1f, 90.0f), u(0, 1);
  torch::Tensor t = torch::empty({h, w});
  auto a = t.accessor<float, 2>();
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) a[y][x] = u(rng) < invalid_fraction ? 0.0f : d(rng);
  }
  return t;
}

TEST(DepthPng16, RoundTripWithinQuantisation) {
  TempDir dir;
  torch::Tensor depth = random_depth(11, 17, 1);
  depth[0][0] = std::nanf("");
  depth[0][1] = 300.0f;  // 300 * 256 > 65535: clamped
  depth[0][2] = -4.0f;   // invalid
  write_depth_png16(dir / "d.png", depth, 256.0);
  torch::Tensor back = read_depth_png16(dir / "d.png", 256.0);
  ASSERT_EQ(back.sizes(), depth.sizes());
  auto a = depth.accessor<float, 2>();
  auto b = back.accessor<float, 2>();
  for (int y = 0; y < 11; ++y) {
    for (int x = 0; x < 17; ++x) {
      float d = a[y][x];
      if (y == 0 && x <= 2) continue;
      if (d > 0) {
        EXPECT_LE(std::fabs(b[y][x] - d), 0.5f / 256.0f + 1e-6f) << y << "," << x;
      } else {
        EXPECT_EQ(b[y][x], 0.0f);
      }
    }
  }
  EXPECT_EQ(b[0][0], 0.0f);
  EXPECT_FLOAT_EQ(b[0][1], 65535.0f / 256.0f);
  EXPECT_EQ(b[0][2], 0.0f);
  // The raw 16-bit values are round(d * 256), computed here independently.
  Image16 raw = read_png16(dir / "d.png");
  EXPECT_EQ(raw.at(5, 3), static_cast<uint16_t>(std::floor(a[3][5] * 256.0 + 0.5)));
}

TEST(DepthPng16, NyuScaleAndBatchShapes) {
  torch::Tensor depth = torch::full({1, 1, 2, 3}, 1.2345f);
  Image16 image = depth_to_image16(depth, 1000.0);
  EXPECT_EQ(image.width, 3);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.at(2, 1), 1235);  // round(1234.5) (float 1.2345 is slightly above)
  EXPECT_THROW(depth_to_image16(torch::ones({2, 2, 3}), 256.0), Error);
}

TEST(Npy, ReadBackByNumpy) {
  TempDir dir;
  torch::Tensor depth = random_depth(5, 7, 2);
  depth[1][2] = -0.0f;
  depth[2][3] = 1e-30f;
  write_npy(dir / "d.npy", depth);
  // The header is padded to a multiple of 64 bytes (format v1.0).
  std::string bytes = read_file_bytes(dir / "d.npy");
  const size_t header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes.size(), 10 + header_len + 5 * 7 * 4);

  // numpy loads it, checks dtype and shape, and writes its raw little-endian bytes back.
  const fs::path raw = dir / "raw.bin";
  const fs::path script = dir / "check.py";
  std::ofstream(script) << "import sys, numpy as np\n"
                           "a = np.load(sys.argv[1])\n"
                           "assert a.dtype == np.dtype('<f4'), a.dtype\n"
                           "assert a.shape == (5, 7), a.shape\n"
                           "assert not np.isfortran(a)\n"
                           "open(sys.argv[2], 'wb').write(a.astype('<f4').tobytes())\n";
  std::string command = std::string(GLPDEPTH_TEST_PYTHON) + " " + script.string() + " " +
                        (dir / "d.npy").string() + " " + raw.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::string values = read_file_bytes(raw);
  ASSERT_EQ(values.size(), 5u * 7 * 4);
  EXPECT_EQ(std::memcmp(values.data(), depth.contiguous().data_ptr<float>(), values.size()), 0);

  torch::Tensor back = read_npy(dir / "d.npy");
  EXPECT_TRUE(torch::equal(back, depth));
}

TEST(Npy, NumpyWrittenFileReads) {
  TempDir dir;
  const fs::path file = dir / "n.npy";
  std::string command = std::string(GLPDEPTH_TEST_PYTHON) +
                        " -c \"import numpy as np; np.save('" + file.string() +
                        "', np.arange(12, dtype='<f4').reshape(3, 4) / 8)\"";
  ASSERT_EQ(std::system(command.c_str()), 0);
  torch::Tensor a = read_npy(file);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_FLOAT_EQ(a[2][3].item<float>(), 11.0f / 8);
  EXPECT_THROW(read_npy(dir / "missing.npy"), Error);
}

// A small PLY reader written for the test: header lines, then vertices.
struct PlyPoint {
  float x, y, z;
  uint8_t r, g, b;
};

std::vector<PlyPoint> parse_ply(const std::string& bytes, bool* binary) {
  size_t end = bytes.find("end_header\n");
  EXPECT_NE(end, std::string::npos);
  std::istringstream header(bytes.substr(0, end));
  std::string line;
  int64_t count = -1;
  std::vector<std::string> props;
  while (std::getline(header, line)) {
    std::istringstream in(line);
    std::string word;
    in >> word;
    if (word == "format") {
      std::string f;
      in >> f;
      *binary = f == "binary_little_endian";
    } else if (word == "element") {
      std::string what;
      in >> what >> count;
      EXPECT_EQ(what, "vertex");
    } else if (word == "property") {
      std::string type, name;
      in >> type >> name;
      props.push_back(type + " " + name);
    }
  }
  EXPECT_EQ(props, (std::vector<std::string>{"float x", "float y", "float z", "uchar red",
                                             "uchar green", "uchar blue"}));
  std::vector<PlyPoint> points(count);
  const char* p = bytes.data() + end + 11;
  if (*binary) {
    EXPECT_EQ(bytes.size(), end + 11 + count * 15);
    for (auto& pt : points) {
      std::memcpy(&pt.x, p, 4);
      std::memcpy(&pt.y, p + 4, 4);
      std::memcpy(&pt.z, p + 8, 4);
      pt.r = p[12], pt.g = p[13], pt.b = p[14];
      p += 15;
    }
  } else {
    std::istringstream body(bytes.substr(end + 11));
    for (auto& pt : points) {
      int r, g, b;
      body >> pt.x >> pt.y >> pt.z >> r >> g >> b;
      pt.r = r, pt.g = g, pt.b = b;
    }
  }
  return points;
}

TEST(Ply, PointsProjectBackToTheDepthMap) {
  TempDir dir;
  const int h = 9, w = 13;
  torch::Tensor depth = random_depth(h, w, 3, 0.3f);
  depth[4][4] = std::numeric_limits<float>::infinity();
  Image8 rgb(w, h, 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      rgb.at(x, y)[0] = static_cast<uint8_t>(x * 10);
      rgb.at(x, y)[1] = static_cast<uint8_t>(y * 20);
      rgb.at(x, y)[2] = 7;
    }
  }
  Intrinsics k{20.0, 22.0, 6.3, 4.1};
  auto a = depth.accessor<float, 2>();
  int64_t valid = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) valid += a[y][x] > 0 && std::isfinite(a[y][x]);
  }
  for (PlyFormat format : {PlyFormat::kBinaryLittleEndian, PlyFormat::kAscii}) {
    PlyOptions options;
    options.format = format;
    int64_t n = write_ply(dir / "p.ply", depth, &rgb, k, options);
    EXPECT_EQ(n, valid);
    bool binary = false;
    auto points = parse_ply(read_file_bytes(dir / "p.ply"), &binary);
    EXPECT_EQ(binary, format == PlyFormat::kBinaryLittleEndian);
    ASSERT_EQ(static_cast<int64_t>(points.size()), valid);
    for (const PlyPoint& pt : points) {
      // Project: u = fx X / Z + cx, v = fy Y / Z + cy must land on integer pixels whose depth
      // and colour are the point's.
      double u = k.fx * pt.x / pt.z + k.cx;
      double v = k.fy * pt.y / pt.z + k.cy;
      int ui = static_cast<int>(std::lround(u)), vi = static_cast<int>(std::lround(v));
      EXPECT_NEAR(u, ui, 1e-3);
      EXPECT_NEAR(v, vi, 1e-3);
      ASSERT_TRUE(ui >= 0 && ui < w && vi >= 0 && vi < h);
      EXPECT_NEAR(pt.z, a[vi][ui], 1e-4 * a[vi][ui]);
      EXPECT_EQ(pt.r, ui * 10);
      EXPECT_EQ(pt.g, vi * 20);
      EXPECT_EQ(pt.b, 7);
    }
  }
  PlyOptions capped;
  capped.max_depth = 45.0;
  int64_t n = write_ply(dir / "c.ply", depth, nullptr, k, capped);
  EXPECT_LT(n, valid);
  EXPECT_GT(n, 0);
}

TEST(Calib, KittiCamToCam) {
  TempDir dir;
  std::ofstream(dir / "calib_cam_to_cam.txt")
      << "calib_time: 09-Jan-2012 13:57:47\r\n"
         "P_rect_00: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 "
         "7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 "
         "0.000000e+00\r\n"
         "P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 "
         "7.216000e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 "
         "2.745884e-03\r\n";
  Intrinsics k = read_kitti_calib(dir / "calib_cam_to_cam.txt");
  EXPECT_DOUBLE_EQ(k.fx, 721.5377);
  EXPECT_DOUBLE_EQ(k.fy, 721.6);
  EXPECT_DOUBLE_EQ(k.cx, 609.5593);
  EXPECT_DOUBLE_EQ(k.cy, 172.854);
  Intrinsics c = k.cropped(23, 13);
  EXPECT_DOUBLE_EQ(c.cx, 609.5593 - 13);
  EXPECT_DOUBLE_EQ(c.cy, 172.854 - 23);
  EXPECT_DOUBLE_EQ(load_intrinsics((dir / "calib_cam_to_cam.txt").string()).fy, 721.6);
  EXPECT_THROW(read_kitti_calib(dir / "calib_cam_to_cam.txt", "03"), Error);
  std::ofstream(dir / "bad.txt") << "P_rect_02: 1 2 3\n";
  try {
    read_kitti_calib(dir / "bad.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt"), std::string::npos);
  }
}

TEST(Calib, PlainString) {
  Intrinsics k = parse_intrinsics("721.5,721.5,609.6,172.9");
  EXPECT_DOUBLE_EQ(k.fx, 721.5);
  EXPECT_DOUBLE_EQ(k.cy, 172.9);
  EXPECT_DOUBLE_EQ(load_intrinsics("1, 2, 3, 4").cx, 3.0);
  EXPECT_THROW(parse_intrinsics("1,2,3"), UsageError);
  EXPECT_THROW(parse_intrinsics("1,2,x,4"), UsageError);
  EXPECT_THROW(parse_intrinsics("0,2,3,4"), UsageError);
}

TEST(Panel, LayoutAndColours) {
  const int h = 120, w = 90;
  torch::Tensor depth = torch::linspace(0, 80, w).repeat({h, 1});
  Image8 rgb(w / 2, h / 2, 3);  // smaller: resized to the depth map
  for (auto& v : rgb.pixels) v = 77;
  PanelOptions options;
  options.colormap = Colormap::kGray;
  options.max_depth = 80;
  Image8 panel = render_panel(rgb, depth, options);
  Image8 bar = render_colorbar(h, options);
  EXPECT_EQ(panel.height, h);
  EXPECT_EQ(panel.width, w + w + bar.width);
  EXPECT_EQ(panel.at(3, 3)[1], 77);                 // image part
  EXPECT_EQ(panel.at(w + w - 1, 50)[0], 255);       // depth 80 -> white in gray
  EXPECT_EQ(panel.at(w, 50)[0], 0);                 // depth 0 = invalid -> black
  // The bar runs from max (top) to min (bottom): brighter at the top for gray.
  const int bar_x = 2 * w + 4 + 2;
  EXPECT_GT(panel.at(bar_x, 8)[0], 240);
  EXPECT_LT(panel.at(bar_x, h - 9)[0], 15);
  // Labels: white pixels to the right of the bar.
  int white = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = bar_x + 12; x < panel.width; ++x) white += panel.at(x, y)[0] == 255;
  }
  EXPECT_GT(white, 20);
  Image8 no_rgb = render_panel(Image8(), depth, options);
  EXPECT_EQ(no_rgb.width, w + bar.width);
}

TEST(Panel, GlyphsAreDistinct) {
  // Every digit renders to its own bitmap, and the text width follows the advance.
  std::vector<std::vector<uint8_t>> seen;
  for (char c = '0'; c <= '9'; ++c) {
    Image8 img(5, 7, 3);
    draw_text(img, 0, 0, std::string(1, c), 1, {255, 255, 255});
    int lit = 0;
    for (size_t i = 0; i < img.pixels.size(); i += 3) lit += img.pixels[i] != 0;
    EXPECT_GT(lit, 6) << c;
    for (const auto& other : seen) EXPECT_NE(other, img.pixels) << c;
    seen.push_back(img.pixels);
  }
  EXPECT_EQ(text_width("80m", 2), (3 * 6 - 1) * 2);
  Image8 clipped(3, 3, 3);
  draw_text(clipped, -2, -2, "88", 2, {1, 2, 3});  // clipping, no crash
}

TEST(Preview, TwoRowsOfEqualWidthWithInvalidTruthInBlack) {
  Image8 rgb(40, 12, 3);
  for (auto& v : rgb.pixels) v = 200;
  torch::Tensor pred = torch::full({12, 40}, 10.0f);
  torch::Tensor gt = torch::full({12, 40}, 12.0f);
  gt.slice(1, 0, 5).zero_();  // the five left columns have no ground truth
  PanelOptions options;
  options.max_depth = 80;
  Image8 preview = render_preview(rgb, pred, gt, options);
  const Image8 top = render_panel(rgb, pred, options);
  EXPECT_EQ(preview.height, 24);
  EXPECT_EQ(preview.width, top.width);
  // Row 1 is the panel of the image and the prediction.
  EXPECT_EQ(0, std::memcmp(preview.pixels.data(), top.pixels.data(), top.pixels.size()));
  // Row 2: ground truth, then |pred - gt|, both black where the ground truth is missing.
  for (int x : {0, 4, 40, 44})
    for (int k = 0; k < 3; ++k) EXPECT_EQ(preview.at(x, 18)[k], 0) << x;
  const Image8 truth = colorize(gt, options.colormap, 0, 80);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(preview.at(7, 18)[k], truth.at(7, 6)[k]);
  EXPECT_THROW(render_preview(rgb, pred, gt.slice(1, 0, 20), options), Error);
}

}  // namespace
}  // namespace glpdepth
