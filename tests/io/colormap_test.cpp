#include "glpdepth/io/colormap.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

double luma(const std::array<uint8_t, 3>& c) { return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]; }

TEST(Colormap, MagmaAndInfernoEndpointsAndMonotonicLuminance) {
  for (Colormap map : {Colormap::kMagma, Colormap::kInferno}) {
    auto lo = colormap_color(map, 0.0);
    auto hi = colormap_color(map, 1.0);
    EXPECT_LT(luma(lo), 5.0) << to_string(map);    // near black
    EXPECT_GT(luma(hi), 200.0) << to_string(map);  // pale yellow
    EXPECT_GT(hi[0], hi[2]);                       // yellowish, not blue
    double previous = -1;
    for (int i = 0; i <= 1000; ++i) {
      double l = luma(colormap_color(map, i / 1000.0));
      EXPECT_GE(l, previous - 0.6) << to_string(map) << " at " << i;  // rounding to bytes only
      previous = std::max(previous, l);
    }
  }
}

TEST(Colormap, GrayIsTheIdentityRamp) {
  EXPECT_EQ(colormap_color(Colormap::kGray, 0.0), (std::array<uint8_t, 3>{0, 0, 0}));
  EXPECT_EQ(colormap_color(Colormap::kGray, 1.0), (std::array<uint8_t, 3>{255, 255, 255}));
  for (int i = 0; i <= 255; ++i) {
    auto c = colormap_color(Colormap::kGray, i / 255.0);
    EXPECT_EQ(c[0], i);
    EXPECT_EQ(c[1], i);
    EXPECT_EQ(c[2], i);
  }
  // Clamped outside [0, 1].
  EXPECT_EQ(colormap_color(Colormap::kGray, -3.0)[0], 0);
  EXPECT_EQ(colormap_color(Colormap::kGray, 7.0)[0], 255);
}

TEST(Colormap, RainbowRunsRedToVioletAndTurboBlueToRed) {
  auto r0 = colormap_color(Colormap::kRainbow, 0.0);
  EXPECT_EQ(r0, (std::array<uint8_t, 3>{255, 0, 0}));
  auto r1 = colormap_color(Colormap::kRainbow, 1.0);
  EXPECT_GT(r1[2], 200);  // violet: strong blue, some red, no green
  EXPECT_EQ(r1[1], 0);
  auto mid = colormap_color(Colormap::kRainbow, 120.0 / 270.0);
  EXPECT_EQ(mid, (std::array<uint8_t, 3>{0, 255, 0}));
  auto t0 = colormap_color(Colormap::kTurbo, 0.0);
  auto t1 = colormap_color(Colormap::kTurbo, 1.0);
  EXPECT_GT(t0[2], t0[0]);  // dark blue-purple
  EXPECT_GT(t1[0], 100);
  EXPECT_LT(t1[2], 20);  // dark red
}

TEST(Colormap, ColorizeUsesTheFixedRangeNotTheImageMax) {
  // Two images with different maxima: the same depth gets the same colour (B15).
  torch::Tensor a = torch::tensor({{1.0f, 10.0f}, {0.0f, 40.0f}});
  torch::Tensor b = torch::tensor({{1.0f, 10.0f}, {std::nanf(""), 80.0f}});
  Image8 ia = colorize(a, Colormap::kGray, 0.0, 80.0);
  Image8 ib = colorize(b, Colormap::kGray, 0.0, 80.0);
  ASSERT_EQ(ia.channels, 3);
  EXPECT_EQ(ia.at(1, 0)[0], ib.at(1, 0)[0]);
  EXPECT_NEAR(ia.at(1, 0)[0], 10.0 / 80.0 * 255, 1.0);
  EXPECT_NEAR(ia.at(1, 1)[0], 40.0 / 80.0 * 255, 1.0);
  EXPECT_EQ(ib.at(1, 1)[0], 255);
  // Invalid pixels are black.
  EXPECT_EQ(ia.at(0, 1)[0], 0);
  EXPECT_EQ(ib.at(0, 1)[1], 0);
  // Beyond the range: clamped.
  Image8 ic = colorize(torch::tensor({{200.0f}}), Colormap::kGray, 0.0, 80.0);
  EXPECT_EQ(ic.at(0, 0)[0], 255);
  EXPECT_THROW(colorize(a, Colormap::kGray, 5.0, 5.0), Error);
}

TEST(Colormap, Parse) {
  EXPECT_EQ(parse_colormap("Magma"), Colormap::kMagma);
  EXPECT_EQ(parse_colormap("grey"), Colormap::kGray);
  EXPECT_EQ(to_string(parse_colormap("turbo")), "turbo");
  EXPECT_THROW(parse_colormap("jet"), UsageError);
}

}  // namespace
}  // namespace glpdepth
