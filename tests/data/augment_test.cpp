#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "data/fixtures.h"
#include "glpdepth/data/augment.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

Sample make_sample(int w, int h, int seed = 0) {
  Sample s;
  s.rgb = testing::pattern_rgb(w, h, seed);
  s.depth.resize(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) s.depth_at(x, y) = testing::pattern_raw(x, y, seed) / 256.f;
  }
  s.intrinsics = {500.f, 510.f, 20.5f, 10.25f};
  s.source = "test sample";
  return s;
}

// Options with every random transform off.
AugmentOptions all_off() {
  AugmentOptions o;
  o.flip_p = o.brightness_contrast_p = o.gamma_p = o.hsv_p = o.cutdepth_p = 0;
  return o;
}

DatasetDefaults no_crop_defaults() { return dataset_defaults(DatasetKind::kFolder); }

TEST(Geometry, FlipMatchesMirroredOriginal) {
  Sample s = make_sample(7, 4);
  Sample f = s;
  flip_sample(f);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 7; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(f.rgb.at(x, y)[c], s.rgb.at(6 - x, y)[c]);
      EXPECT_EQ(f.depth_at(x, y), s.depth_at(6 - x, y));
    }
  }
  EXPECT_FLOAT_EQ(f.intrinsics.cx, 6 - 20.5f);
  EXPECT_FLOAT_EQ(f.intrinsics.cy, 10.25f);
  flip_sample(f);
  EXPECT_EQ(f.rgb.pixels, s.rgb.pixels);
  EXPECT_EQ(f.depth, s.depth);
}

TEST(Geometry, CropMovesValuesAndPrincipalPoint) {
  Sample s = make_sample(20, 10);
  crop_sample(s, 3, 5, 4, 6);
  ASSERT_EQ(s.width(), 6);
  ASSERT_EQ(s.height(), 4);
  EXPECT_EQ(s.rgb.at(0, 0)[0], 5);
  EXPECT_EQ(s.rgb.at(0, 0)[1], 3);
  EXPECT_FLOAT_EQ(s.depth_at(5, 3), testing::pattern_raw(10, 6) / 256.f);
  EXPECT_FLOAT_EQ(s.intrinsics.cx, 15.5f);
  EXPECT_FLOAT_EQ(s.intrinsics.cy, 7.25f);
  EXPECT_THROW(crop_sample(s, 1, 0, 4, 6), Error);
}

TEST(Colour, BrightnessContrastKnownPixels) {
  Image8 im(4, 1, 1);
  im.pixels = {0, 100, 200, 250};
  augment::brightness_contrast(im, 1.1, 0.1);  // v*1.1 + 25.5, truncated, clipped
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{25, 135, 245, 255}));
  im.pixels = {0, 10, 100, 255};
  augment::brightness_contrast(im, 0.8, -0.2);  // v*0.8 - 51
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{0, 0, 29, 153}));
}

TEST(Colour, GammaKnownPixels) {
  Image8 im(256, 1, 1);
  for (int i = 0; i < 256; ++i) im.pixels[i] = static_cast<uint8_t>(i);
  Image8 same = im;
  augment::gamma(same, 1.0);
  EXPECT_EQ(same.pixels, im.pixels);
  augment::gamma(im, 2.0);
  EXPECT_EQ(im.pixels[0], 0);
  EXPECT_EQ(im.pixels[128], 64);   // (128/255)^2 * 255 = 64.25
  EXPECT_EQ(im.pixels[51], 10);    // 0.2^2 * 255 = 10.2
  EXPECT_EQ(im.pixels[255], 255);
  for (int i = 1; i < 255; ++i) {
    double ref = std::pow(i / 255.0, 2.0) * 255.0;
    EXPECT_NEAR(im.pixels[i], std::floor(ref), 1.0) << i;
  }
}

// Independent float reference of RGB -> HSV with OpenCV's 8-bit ranges (H in [0,180)).
void reference_hsv(int r, int g, int b, double& h, double& s, double& v) {
  int mx = std::max({r, g, b}), mn = std::min({r, g, b});
  v = mx;
  s = mx == 0 ? 0 : 255.0 * (mx - mn) / mx;
  double d = mx - mn, deg = 0;
  if (d > 0) {
    if (mx == r) deg = 60.0 * (g - b) / d;
    else if (mx == g) deg = 120.0 + 60.0 * (b - r) / d;
    else deg = 240.0 + 60.0 * (r - g) / d;
  }
  if (deg < 0) deg += 360;
  h = deg / 2;
}

TEST(Colour, HsvConversionMatchesReference) {
  const uint8_t red[3] = {255, 0, 0}, green[3] = {0, 255, 0}, blue[3] = {0, 0, 255};
  uint8_t hsv[3];
  augment::rgb_to_hsv(red, hsv);
  EXPECT_EQ(hsv[0], 0);
  EXPECT_EQ(hsv[1], 255);
  EXPECT_EQ(hsv[2], 255);
  augment::rgb_to_hsv(green, hsv);
  EXPECT_EQ(hsv[0], 60);
  augment::rgb_to_hsv(blue, hsv);
  EXPECT_EQ(hsv[0], 120);
  for (int r = 0; r < 256; r += 17) {
    for (int g = 0; g < 256; g += 15) {
      for (int b = 0; b < 256; b += 51) {
        const uint8_t rgb[3] = {uint8_t(r), uint8_t(g), uint8_t(b)};
        augment::rgb_to_hsv(rgb, hsv);
        double h, s, v;
        reference_hsv(r, g, b, h, s, v);
        double dh = std::fabs(hsv[0] - h);
        if (s > 0) {
          EXPECT_LE(std::min(dh, 180 - dh), 0.6) << r << "," << g << "," << b;
        }
        EXPECT_NEAR(hsv[1], s, 0.6);
        EXPECT_EQ(hsv[2], v);
        uint8_t back[3];
        augment::hsv_to_rgb(hsv, back);
        // H is quantised to 2 degrees, so the round trip is close, not exact.
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(back[c], rgb[c], 5) << r << "," << g << "," << b;
      }
    }
  }
}

TEST(Colour, HueSaturationValueShifts) {
  Image8 im(3, 1, 3);
  im.pixels = {255, 0, 0, 0, 0, 255, 100, 50, 50};
  Image8 hue = im;
  augment::hue_saturation_value(hue, 60, 0, 0);  // +120 degrees
  EXPECT_EQ(std::vector<uint8_t>(hue.pixels.begin(), hue.pixels.begin() + 6),
            (std::vector<uint8_t>{0, 255, 0, 255, 0, 0}));  // red -> green, blue -> red (wraps)
  Image8 gray = im;
  augment::hue_saturation_value(gray, 0, -255, 0);
  for (int p = 0; p < 3; ++p) {
    const uint8_t* px = gray.at(p, 0);
    EXPECT_EQ(px[0], px[1]);
    EXPECT_EQ(px[1], px[2]);
    EXPECT_EQ(px[0], std::max({im.at(p, 0)[0], im.at(p, 0)[1], im.at(p, 0)[2]}));
  }
  Image8 val = im;
  augment::hue_saturation_value(val, 0, 0, 20.7);  // V 100 -> 120 (truncated shift)
  EXPECT_EQ(val.at(2, 0)[0], 120);
  EXPECT_NEAR(val.at(2, 0)[1], 60, 1);
  EXPECT_NEAR(val.at(2, 0)[2], 60, 1);
}

TEST(CutDepth, PastesNormalisedDepthIntoTheStrip) {  // spec B6
  Sample s = make_sample(16, 5);
  s.depth_at(4, 2) = 0.f;     // invalid -> black
  s.depth_at(5, 3) = 200.f;   // beyond max -> 255
  Sample before = s;
  augment::cut_depth(s, 3, 4, 80.f);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 16; ++x) {
      for (int c = 0; c < 3; ++c) {
        if (x >= 3 && x < 7) {
          long expected = std::lround(std::min(255.0, before.depth_at(x, y) / 80.0 * 255.0));
          EXPECT_EQ(s.rgb.at(x, y)[c], expected) << x << "," << y;
        } else {
          EXPECT_EQ(s.rgb.at(x, y)[c], before.rgb.at(x, y)[c]);
        }
      }
    }
  }
  EXPECT_EQ(s.rgb.at(4, 2)[0], 0);
  EXPECT_EQ(s.rgb.at(5, 3)[1], 255);
  EXPECT_EQ(s.depth, before.depth);
}

TEST(CutDepth, FiresWithTheConfiguredProbability) {
  AugmentOptions o = all_off();
  o.cutdepth_p = 0.25;
  Augmenter aug(o, no_crop_defaults());
  int fired = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    Sample s = make_sample(12, 2);
    const auto before = s.rgb.pixels;
    Rng rng = Rng::for_sample(7, 0, i);
    aug.apply(s, rng);
    fired += s.rgb.pixels != before;
  }
  EXPECT_NEAR(fired / double(n), 0.25, 0.04);
}

TEST(Augmenter, CropHonouredAndReproducible) {  // spec B14
  AugmentOptions o;
  o.crop_h = 8;
  o.crop_w = 12;
  Augmenter aug(o, dataset_defaults(DatasetKind::kKitti));
  EXPECT_EQ(aug.options().crop_h, 8);
  EXPECT_EQ(aug.options().cutdepth_max_depth, 80.f);
  Sample a = make_sample(30, 20), b = make_sample(30, 20), c = make_sample(30, 20);
  Rng ra = Rng::for_sample(1, 2, 3), rb = Rng::for_sample(1, 2, 3), rc = Rng::for_sample(1, 2, 4);
  aug.apply(a, ra);
  aug.apply(b, rb);
  aug.apply(c, rc);
  EXPECT_EQ(a.width(), 12);
  EXPECT_EQ(a.height(), 8);
  EXPECT_EQ(a.rgb.pixels, b.rgb.pixels);
  EXPECT_EQ(a.depth, b.depth);
  EXPECT_TRUE(a.rgb.pixels != c.rgb.pixels || a.depth != c.depth);
  Sample small = make_sample(10, 20);
  Rng r(0);
  EXPECT_THROW(aug.apply(small, r), Error);
  // Dataset default when not set: KITTI 352x704.
  EXPECT_EQ(Augmenter(AugmentOptions{}, dataset_defaults(DatasetKind::kKitti)).options().crop_w, 704);
}

TEST(Augmenter, CropPositionFollowsTheRngDraws) {
  AugmentOptions o = all_off();
  o.crop_h = 5;
  o.crop_w = 9;
  Augmenter aug(o, no_crop_defaults());
  Sample s = make_sample(40, 30);
  Rng rng(1234), replay(1234);
  aug.apply(s, rng);
  // Draw order: flip chance, crop u1 (rows), crop u2 (cols).
  replay.uniform();
  const int top = static_cast<int>((30 - 5) * replay.uniform());
  const int left = static_cast<int>((40 - 9) * replay.uniform());
  EXPECT_EQ(s.rgb.at(0, 0)[0], left);
  EXPECT_EQ(s.rgb.at(0, 0)[1], top);
  EXPECT_FLOAT_EQ(s.depth_at(2, 1), testing::pattern_raw(left + 2, top + 1) / 256.f);
}

TEST(Augmenter, FlipAlwaysWithPOne) {
  AugmentOptions o = all_off();
  o.flip_p = 1;
  Augmenter aug(o, no_crop_defaults());
  Sample s = make_sample(9, 3), ref = s;
  Rng rng(5);
  aug.apply(s, rng);
  flip_sample(ref);
  EXPECT_EQ(s.rgb.pixels, ref.rgb.pixels);
  EXPECT_EQ(s.depth, ref.depth);
}

TEST(Rng, UniformRangeAndStreams) {
  Rng r(42);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
  EXPECT_NE(Rng::for_sample(0, 0, 1).next(), Rng::for_sample(0, 0, 2).next());
  EXPECT_NE(Rng::for_sample(0, 0, 1).next(), Rng::for_sample(0, 1, 1).next());
  EXPECT_NE(Rng::for_sample(0, 0, 1).next(), Rng::for_sample(1, 0, 1).next());
  EXPECT_EQ(Rng::for_sample(3, 4, 5).next(), Rng::for_sample(3, 4, 5).next());
  for (int i = 0; i < 1000; ++i) ASSERT_LT(r.below(7), 7u);
}

// ---- Random zoom (docs/CAMERAS.md) ------------------------------------------------------------

namespace zoom_test {

// A scene with exact depth: a road plane 1.5 m below the camera in the lower half and a wall
// 20 m ahead elsewhere, seen through `k`. z for the ray through pixel (u, v).
float scene_depth(const Intrinsics& k, double v) {
  const double dy = (v - k.cy) / k.fy;  // ray direction y per unit z (y down)
  const double road = dy > 1e-9 ? 1.5 / dy : 1e9;
  return static_cast<float>(std::min(road, 20.0));
}

struct Point {
  double x, y, z;
};
Point back_project(const Intrinsics& k, double u, double v, double z) {
  return {(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z};
}

Sample scene_sample(int w, int h, const Intrinsics& k) {
  Sample s = make_sample(w, h);
  s.intrinsics = k;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) s.depth_at(x, y) = scene_depth(k, y);
  return s;
}

}  // namespace zoom_test

// With an integer factor 3 the centre of output pixel (3x+1, 3y+1) is the centre of input pixel
// (x, y): nearest sampling must give that pixel's depth, and back-projection through the zoomed
// intrinsics must give the same 3D point (a zoom is a longer focal length, not a new scene).
TEST(Zoom, LongerFocalKeepsEveryThreeDPoint) {
  using namespace zoom_test;
  const Intrinsics k{60.0, 62.0, 15.3, 9.7};
  Sample s = scene_sample(32, 20, k);
  Sample z = s;
  augment::zoom(z, 3.0, /*divide_depth=*/false);
  ASSERT_EQ(z.width(), 96);
  ASSERT_EQ(z.height(), 60);
  EXPECT_DOUBLE_EQ(z.intrinsics.fx, 180.0);
  EXPECT_DOUBLE_EQ(z.intrinsics.fy, 186.0);
  EXPECT_DOUBLE_EQ(z.intrinsics.cx, (15.3 + 0.5) * 3 - 0.5);
  EXPECT_DOUBLE_EQ(z.intrinsics.cy, (9.7 + 0.5) * 3 - 0.5);
  for (int y = 0; y < 20; ++y) {
    for (int x = 0; x < 32; ++x) {
      const int u = 3 * x + 1, v = 3 * y + 1;
      ASSERT_EQ(z.depth_at(u, v), s.depth_at(x, y)) << x << "," << y;
      const Point a = back_project(k, x, y, s.depth_at(x, y));
      const Point b = back_project(z.intrinsics, u, v, z.depth_at(u, v));
      EXPECT_NEAR(a.x, b.x, 1e-9 * std::abs(a.z));
      EXPECT_NEAR(a.y, b.y, 1e-9 * std::abs(a.z));
      EXPECT_EQ(a.z, b.z);
      // The image too: a pixel centre that lands on a source centre takes its colour.
      for (int c = 0; c < 3; ++c) ASSERT_EQ(z.rgb.at(u, v)[c], s.rgb.at(x, y)[c]);
    }
  }
  // Every zoomed depth is the scene's depth for its own ray, up to nearest-pixel sampling: the
  // ray through (u, v) lies within half an input pixel of the one sampled.
  for (int v = 0; v < 60; ++v) {
    const int source_row = std::min(19, static_cast<int>((v + 0.5) / 3));
    EXPECT_EQ(z.depth_at(40, v), scene_depth(k, source_row));
  }
}

// The metric-model variant (Eigen et al.): depth divided by s, focal unchanged.
TEST(Zoom, MetricModeDividesDepthAndKeepsFocal) {
  using namespace zoom_test;
  const Intrinsics k{60.0, 62.0, 15.3, 9.7};
  Sample s = scene_sample(32, 20, k);
  s.depth_at(5, 5) = 0.f;  // invalid stays invalid, never mixed with neighbours
  Sample z = s;
  augment::zoom(z, 3.0, /*divide_depth=*/true);
  EXPECT_DOUBLE_EQ(z.intrinsics.fx, 60.0);
  EXPECT_DOUBLE_EQ(z.intrinsics.fy, 62.0);
  EXPECT_DOUBLE_EQ(z.intrinsics.cx, (15.3 + 0.5) * 3 - 0.5);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 32; ++x)
      ASSERT_FLOAT_EQ(z.depth_at(3 * x + 1, 3 * y + 1), s.depth_at(x, y) / 3.f);
  for (int v = 15; v < 18; ++v)
    for (int u = 15; u < 18; ++u) EXPECT_EQ(z.depth_at(u, v), 0.f);
  EXPECT_GT(z.depth_at(18, 15), 0.f);
}

// Non-integer factors: sizes round, intrinsics follow the exact size ratio, colours interpolate
// between their neighbours, nearest depth is always one of the input values.
TEST(Zoom, FractionalFactorAndBilinearColour) {
  Sample s = make_sample(20, 10);
  Sample z = s;
  augment::zoom(z, 1.25, /*divide_depth=*/false);
  ASSERT_EQ(z.width(), 25);
  ASSERT_EQ(z.height(), 13);  // round(12.5)
  EXPECT_DOUBLE_EQ(z.intrinsics.fx, 500.0 * 25 / 20);
  EXPECT_DOUBLE_EQ(z.intrinsics.fy, 510.0 * 13 / 10);
  // Red = x + const along rows: the bilinear value at output column u is the source column
  // (u + 0.5)/1.25 - 0.5, clamped to the frame, rounded.
  for (int u = 0; u < 25; ++u) {
    const double x = std::clamp((u + 0.5) / 1.25 - 0.5, 0.0, 19.0);
    EXPECT_EQ(z.rgb.at(u, 4)[0], static_cast<int>(std::lround(x))) << u;
  }
  std::vector<float> values(s.depth.begin(), s.depth.end());
  std::sort(values.begin(), values.end());
  for (float d : z.depth) EXPECT_TRUE(std::binary_search(values.begin(), values.end(), d));
}

TEST(Augmenter, ZoomKeepsTheCropPossibleAndOffDrawsNothing) {
  AugmentOptions o = all_off();
  o.crop_h = 8;
  o.crop_w = 16;
  o.scale_p = 1.0;
  o.scale_min = 0.5;  // would shrink below the crop: raised to fit
  o.scale_max = 0.5;
  o.scale_divides_depth = false;
  Augmenter zooming(o, no_crop_defaults());
  Sample s = make_sample(16, 8);
  Rng rng(3);
  zooming.apply(s, rng);
  EXPECT_EQ(s.width(), 16);
  EXPECT_EQ(s.height(), 8);

  // Draw order with the zoom on: flip chance, zoom chance, zoom factor, crop u1, crop u2; the
  // crop is cut from the zoomed frame. (With scale_p = 0 nothing is drawn for the zoom:
  // CropPositionFollowsTheRngDraws.)
  AugmentOptions twice = all_off();
  twice.crop_h = 4;
  twice.crop_w = 5;
  twice.scale_p = 1.0;
  twice.scale_min = twice.scale_max = 3.0;
  twice.scale_divides_depth = false;
  Augmenter zoom3(twice, no_crop_defaults());
  Sample a = make_sample(30, 20);
  Sample zoomed = a;
  augment::zoom(zoomed, 3.0, false);
  Rng draws(11), replay(11);
  zoom3.apply(a, draws);
  replay.uniform();
  replay.uniform();
  replay.uniform();
  const int top = static_cast<int>((60 - 4) * replay.uniform());
  const int left = static_cast<int>((90 - 5) * replay.uniform());
  EXPECT_EQ(a.rgb.at(1, 2)[0], zoomed.rgb.at(left + 1, top + 2)[0]);
  EXPECT_EQ(a.depth_at(3, 1), zoomed.depth_at(left + 3, top + 1));
  EXPECT_DOUBLE_EQ(a.intrinsics.fx, 1500.0);
  EXPECT_DOUBLE_EQ(a.intrinsics.cx, zoomed.intrinsics.cx - left);

  AugmentOptions bad = all_off();
  bad.scale_min = 2.0;
  bad.scale_max = 1.0;
  EXPECT_THROW(Augmenter(bad, no_crop_defaults()), Error);
}

}  // namespace
}  // namespace glpdepth
