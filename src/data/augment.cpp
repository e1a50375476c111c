#include "glpdepth/data/augment.h"

#include <algorithm>
#include <cmath>

#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint8_t trunc_u8(double v) {
  // Callers clip first; the cast truncates toward zero like NumPy's astype(uint8).
  return static_cast<uint8_t>(v);
}

}  // namespace

// ---- Sample geometry ------------------------------------------------------------------------

void crop_sample(Sample& s, int top, int left, int height, int width) {
  check(top >= 0 && left >= 0 && height > 0 && width > 0 && top + height <= s.height() &&
            left + width <= s.width(),
        "crop ", width, "x", height, " at (x ", left, ", y ", top, ") does not fit the ",
        s.width(), "x", s.height(), " frame");  // the caller names the sample
  if (top == 0 && left == 0 && height == s.height() && width == s.width()) return;
  const int c = s.rgb.channels;
  Image8 rgb(width, height, c);
  for (int y = 0; y < height; ++y) {
    std::copy_n(s.rgb.at(left, top + y), static_cast<size_t>(width) * c, rgb.at(0, y));
  }
  if (s.has_depth()) {
    std::vector<float> depth(static_cast<size_t>(width) * height);
    for (int y = 0; y < height; ++y) {
      std::copy_n(&s.depth[static_cast<size_t>(top + y) * s.rgb.width + left], width,
                  &depth[static_cast<size_t>(y) * width]);
    }
    s.depth = std::move(depth);
  }
  s.rgb = std::move(rgb);
  if (s.intrinsics.known()) {
    s.intrinsics.cx -= static_cast<float>(left);
    s.intrinsics.cy -= static_cast<float>(top);
  }
}

void flip_sample(Sample& s) {
  const int w = s.width(), h = s.height(), c = s.rgb.channels;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w / 2; ++x) {
      std::swap_ranges(s.rgb.at(x, y), s.rgb.at(x, y) + c, s.rgb.at(w - 1 - x, y));
    }
    if (s.has_depth()) {
      float* row = &s.depth[static_cast<size_t>(y) * w];
      std::reverse(row, row + w);
    }
  }
  if (s.intrinsics.known()) s.intrinsics.cx = static_cast<float>(w - 1) - s.intrinsics.cx;
}

// ---- Rng ------------------------------------------------------------------------------------

uint64_t Rng::next() { return mix64(state_ += 0x9E3779B97F4A7C15ULL); }

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::uniform(double low, double high) { return low + (high - low) * uniform(); }

uint64_t Rng::below(uint64_t bound) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
}

Rng Rng::for_sample(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t s = mix64(seed + 0x632BE59BD9B4E019ULL);
  s = mix64(s ^ mix64(static_cast<uint64_t>(epoch) + 0x8CB92BA72F3D8DD7ULL));
  s = mix64(s ^ mix64(static_cast<uint64_t>(index) + 0xD1B54A32D192ED03ULL));
  return Rng(s);
}

// ---- Transforms -----------------------------------------------------------------------------

namespace augment {

void cut_depth(Sample& s, int left, int width, float max_depth) {
  check(s.has_depth(), "CutDepth needs depth");
  check(max_depth > 0, "CutDepth: max depth must be > 0");
  const int w = s.width(), h = s.height();
  const int end = std::min(w, left + width);
  const float k = 255.f / max_depth;
  for (int y = 0; y < h; ++y) {
    for (int x = std::max(0, left); x < end; ++x) {
      float v = std::clamp(s.depth_at(x, y) * k, 0.f, 255.f);
      uint8_t u = static_cast<uint8_t>(std::lround(v));
      uint8_t* p = s.rgb.at(x, y);
      for (int ch = 0; ch < s.rgb.channels; ++ch) p[ch] = u;
    }
  }
}

void zoom(Sample& s, double scale, bool divide_depth) {
  check(scale > 0 && std::isfinite(scale), "zoom factor must be positive, got ", scale);
  const int w = s.width(), h = s.height(), c = s.rgb.channels;
  const int out_w = std::max(1, static_cast<int>(std::lround(w * scale)));
  const int out_h = std::max(1, static_cast<int>(std::lround(h * scale)));
  if (out_w == w && out_h == h) return;
  const double sx = static_cast<double>(out_w) / w, sy = static_cast<double>(out_h) / h;
  // Source coordinate of each output column / row (pixel centres at integers).
  auto source_of = [](int i, double factor, int size) {
    return std::clamp((i + 0.5) / factor - 0.5, 0.0, static_cast<double>(size - 1));
  };
  std::vector<int> x0(out_w), x1(out_w), nearest_x(out_w);
  std::vector<float> fx_weight(out_w);
  for (int x = 0; x < out_w; ++x) {
    const double u = source_of(x, sx, w);
    x0[x] = static_cast<int>(u);
    x1[x] = std::min(x0[x] + 1, w - 1);
    fx_weight[x] = static_cast<float>(u - x0[x]);
    nearest_x[x] = std::min(w - 1, static_cast<int>((x + 0.5) / sx));
  }
  Image8 rgb(out_w, out_h, c);
  std::vector<float> depth;
  if (s.has_depth()) depth.resize(static_cast<size_t>(out_w) * out_h);
  const float depth_factor = divide_depth ? static_cast<float>(1.0 / std::sqrt(sx * sy)) : 1.f;
  for (int y = 0; y < out_h; ++y) {
    const double v = source_of(y, sy, h);
    const int y0 = static_cast<int>(v), y1 = std::min(y0 + 1, h - 1);
    const float wy = static_cast<float>(v - y0);
    for (int x = 0; x < out_w; ++x) {
      const uint8_t* a = s.rgb.at(x0[x], y0);
      const uint8_t* b = s.rgb.at(x1[x], y0);
      const uint8_t* d = s.rgb.at(x0[x], y1);
      const uint8_t* e = s.rgb.at(x1[x], y1);
      uint8_t* out = rgb.at(x, y);
      const float wx = fx_weight[x];
      for (int ch = 0; ch < c; ++ch) {
        const float top = a[ch] + (b[ch] - a[ch]) * wx;
        const float bottom = d[ch] + (e[ch] - d[ch]) * wx;
        out[ch] = static_cast<uint8_t>(std::lround(std::clamp(top + (bottom - top) * wy, 0.f, 255.f)));
      }
    }
    if (s.has_depth()) {
      const int ny = std::min(h - 1, static_cast<int>((y + 0.5) / sy));
      for (int x = 0; x < out_w; ++x)
        depth[static_cast<size_t>(y) * out_w + x] = s.depth_at(nearest_x[x], ny) * depth_factor;
    }
  }
  s.rgb = std::move(rgb);
  s.depth = std::move(depth);
  if (s.intrinsics.known()) {
    Intrinsics& k = s.intrinsics;
    k.cx = (k.cx + 0.5) * sx - 0.5;
    k.cy = (k.cy + 0.5) * sy - 0.5;
    if (!divide_depth) {
      k.fx *= sx;
      k.fy *= sy;
    }
  }
}

void brightness_contrast(Image8& image, double alpha, double beta) {
  // albumentations computes the table in float32.
  uint8_t lut[256];
  const float a = static_cast<float>(alpha), b = static_cast<float>(beta * 255.0);
  for (int i = 0; i < 256; ++i) {
    float v = static_cast<float>(i);
    if (alpha != 1) v *= a;
    if (beta != 0) v += b;
    lut[i] = trunc_u8(std::clamp(v, 0.f, 255.f));
  }
  for (uint8_t& p : image.pixels) p = lut[p];
}

void gamma(Image8& image, double g) {
  uint8_t lut[256];
  for (int i = 0; i < 256; ++i) {
    // The 1e-9 keeps gamma 1 the identity despite rounding (the original's table loses up to
    // one level there).
    double v = std::pow(i / 255.0, g) * 255.0 + 1e-9;
    lut[i] = trunc_u8(std::clamp(v, 0.0, 255.0));
  }
  for (uint8_t& p : image.pixels) p = lut[p];
}

namespace {

constexpr int kHsvShift = 12;

struct HsvTables {
  int sdiv[256];
  int hdiv[256];
  HsvTables() {
    sdiv[0] = hdiv[0] = 0;
    for (int i = 1; i < 256; ++i) {
      sdiv[i] = static_cast<int>(std::lrint((255 << kHsvShift) / (1.0 * i)));
      hdiv[i] = static_cast<int>(std::lrint((180 << kHsvShift) / (6.0 * i)));
    }
  }
};

const HsvTables& hsv_tables() {
  static const HsvTables tables;
  return tables;
}

}  // namespace

void rgb_to_hsv(const uint8_t rgb[3], uint8_t hsv[3]) {
  const HsvTables& t = hsv_tables();
  const int r = rgb[0], g = rgb[1], b = rgb[2];
  const int v = std::max({r, g, b});
  const int vmin = std::min({r, g, b});
  const int diff = v - vmin;
  const int vr = v == r ? -1 : 0;
  const int vg = v == g ? -1 : 0;
  const int s = (diff * t.sdiv[v] + (1 << (kHsvShift - 1))) >> kHsvShift;
  int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + ((~vg) & (r - g + 4 * diff))));
  h = (h * t.hdiv[diff] + (1 << (kHsvShift - 1))) >> kHsvShift;
  if (h < 0) h += 180;
  hsv[0] = static_cast<uint8_t>(h);
  hsv[1] = static_cast<uint8_t>(s);
  hsv[2] = static_cast<uint8_t>(v);
}

void hsv_to_rgb(const uint8_t hsv[3], uint8_t rgb[3]) {
  float h = hsv[0], s = hsv[1] * (1.f / 255.f), v = hsv[2] * (1.f / 255.f);
  float r, g, b;
  if (s == 0) {
    r = g = b = v;
  } else {
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                          {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    h *= 6.f / 180.f;
    while (h < 0) h += 6;
    while (h >= 6) h -= 6;
    int sector = static_cast<int>(std::floor(h));
    h -= static_cast<float>(sector);
    if (sector < 0 || sector >= 6) {
      sector = 0;
      h = 0;
    }
    const float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
    b = tab[sector_data[sector][0]];
    g = tab[sector_data[sector][1]];
    r = tab[sector_data[sector][2]];
  }
  auto to_u8 = [](float x) {
    return static_cast<uint8_t>(std::clamp<long>(std::lrint(x * 255.f), 0, 255));
  };
  rgb[0] = to_u8(r);
  rgb[1] = to_u8(g);
  rgb[2] = to_u8(b);
}

void hue_saturation_value(Image8& image, double hue_shift, double sat_shift, double val_shift) {
  check(image.channels == 3, "hue/saturation/value needs an RGB image");
  uint8_t lut_h[256], lut_s[256], lut_v[256];
  for (int i = 0; i < 256; ++i) {
    double hh = std::fmod(i + hue_shift, 180.0);
    if (hh < 0) hh += 180.0;
    lut_h[i] = hue_shift != 0 ? trunc_u8(hh) : static_cast<uint8_t>(i);
    lut_s[i] = sat_shift != 0 ? trunc_u8(std::clamp(i + sat_shift, 0.0, 255.0))
                              : static_cast<uint8_t>(i);
    lut_v[i] = val_shift != 0 ? trunc_u8(std::clamp(i + val_shift, 0.0, 255.0))
                              : static_cast<uint8_t>(i);
  }
  const size_t n = static_cast<size_t>(image.width) * image.height;
  uint8_t* p = image.pixels.data();
  for (size_t i = 0; i < n; ++i, p += 3) {
    uint8_t hsv[3];
    rgb_to_hsv(p, hsv);
    hsv[0] = lut_h[hsv[0]];
    hsv[1] = lut_s[hsv[1]];
    hsv[2] = lut_v[hsv[2]];
    hsv_to_rgb(hsv, p);
  }
}

}  // namespace augment

// ---- Pipeline -------------------------------------------------------------------------------

Augmenter::Augmenter(AugmentOptions options, const DatasetDefaults& defaults)
    : options_(options) {
  if (options_.crop_h <= 0) options_.crop_h = defaults.crop_h;
  if (options_.crop_w <= 0) options_.crop_w = defaults.crop_w;
  if (options_.cutdepth_max_depth <= 0) options_.cutdepth_max_depth = defaults.max_depth;
  auto check_p = [](double p, const char* name) {
    check(p >= 0 && p <= 1, "augmentation: ", name, " must be in [0, 1], got ", p);
  };
  check_p(options_.flip_p, "flip_p");
  check_p(options_.brightness_contrast_p, "brightness_contrast_p");
  check_p(options_.gamma_p, "gamma_p");
  check_p(options_.hsv_p, "hsv_p");
  check_p(options_.cutdepth_p, "cutdepth_p");
  check_p(options_.scale_p, "scale_p");
  check(options_.scale_min > 0 && options_.scale_min <= options_.scale_max &&
            options_.scale_max <= 8,
        "augmentation: need 0 < scale_min <= scale_max <= 8, got ", options_.scale_min, " and ",
        options_.scale_max);
  check(options_.gamma_min > 0 && options_.gamma_min <= options_.gamma_max,
        "augmentation: need 0 < gamma_min <= gamma_max");
}

void Augmenter::apply(Sample& s, Rng& rng) const {
  const AugmentOptions& o = options_;
  check(s.has_depth() && s.depth.size() == static_cast<size_t>(s.width()) * s.height(),
        "training augmentation needs a depth map of the image's size");
  // 1. Vertical CutDepth on the full (pre-crop) frame, as the original.
  if (o.cutdepth_p > 0 && rng.chance(o.cutdepth_p)) {
    const double alpha = rng.uniform(), beta = rng.uniform();
    const double w = s.width();
    const int left = static_cast<int>(alpha * w);
    const int width = static_cast<int>(std::max((w - alpha * w) * beta * o.cutdepth_fraction, 1.0));
    augment::cut_depth(s, left, width, o.cutdepth_max_depth);
  }
  // 2. Horizontal flip.
  if (rng.chance(o.flip_p)) flip_sample(s);
  // Random zoom (ours; no random draw at all when off, so the original sequence is unchanged).
  if (o.scale_p > 0 && rng.chance(o.scale_p)) {
    double scale = rng.uniform(o.scale_min, o.scale_max);
    if (o.crop_h > 0 && o.crop_w > 0)  // the zoomed frame must still hold the crop
      scale = std::max({scale, (o.crop_h + 0.5) / s.height(), (o.crop_w + 0.5) / s.width()});
    augment::zoom(s, scale, o.scale_divides_depth);
  }
  // 3. Random crop: top-left = int((H-h)*u1), int((W-w)*u2).
  if (o.crop_h > 0 && o.crop_w > 0) {
    // The loader puts the sample's name in front (once).
    check(o.crop_h <= s.height() && o.crop_w <= s.width(), "random crop ", o.crop_w, "x",
          o.crop_h, " is larger than the ", s.width(), "x", s.height(), " frame");
    const double u1 = rng.uniform(), u2 = rng.uniform();
    const int top = static_cast<int>((s.height() - o.crop_h) * u1);
    const int left = static_cast<int>((s.width() - o.crop_w) * u2);
    crop_sample(s, top, left, o.crop_h, o.crop_w);
  }
  // 4-6. Colour, image only.
  if (rng.chance(o.brightness_contrast_p)) {
    const double alpha = 1.0 + rng.uniform(-o.contrast_limit, o.contrast_limit);
    const double beta = rng.uniform(-o.brightness_limit, o.brightness_limit);
    augment::brightness_contrast(s.rgb, alpha, beta);
  }
  if (rng.chance(o.gamma_p)) augment::gamma(s.rgb, rng.uniform(o.gamma_min, o.gamma_max));
  if (rng.chance(o.hsv_p)) {
    const double dh = rng.uniform(-o.hue_shift, o.hue_shift);
    const double ds = rng.uniform(-o.sat_shift, o.sat_shift);
    const double dv = rng.uniform(-o.val_shift, o.val_shift);
    augment::hue_saturation_value(s.rgb, dh, ds, dv);
  }
}

}  // namespace glpdepth
