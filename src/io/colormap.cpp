#include "glpdepth/io/colormap.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <vector>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace {

struct Anchor {
  double t;
  double r, g, b;
};

// Our anchor colours, chosen by eye along each map; luminance rises monotonically along magma and
// inferno, as in the originals.
const std::vector<Anchor>& anchors(Colormap colormap) {
  static const std::vector<Anchor> turbo = {
      {0.0, 48, 18, 59},    {0.1, 69, 91, 205},   {0.2, 62, 156, 254}, {0.3, 24, 215, 203},
      {0.4, 70, 248, 132},  {0.5, 164, 252, 60},  {0.6, 225, 221, 55}, {0.7, 254, 165, 49},
      {0.8, 239, 90, 17},   {0.9, 194, 36, 3},    {1.0, 122, 4, 3}};
  static const std::vector<Anchor> magma = {
      {0.0, 0, 0, 4},       {0.1, 22, 16, 60},    {0.2, 59, 15, 112},  {0.3, 96, 24, 128},
      {0.4, 132, 38, 129},  {0.5, 171, 51, 124},  {0.6, 210, 66, 111}, {0.7, 241, 96, 93},
      {0.8, 253, 145, 103}, {0.9, 254, 195, 136}, {1.0, 252, 253, 191}};
  static const std::vector<Anchor> inferno = {
      {0.0, 0, 0, 4},       {0.1, 22, 11, 57},    {0.2, 66, 10, 104},  {0.3, 106, 23, 110},
      {0.4, 147, 38, 103},  {0.5, 188, 55, 84},   {0.6, 221, 81, 58},  {0.7, 243, 118, 27},
      {0.8, 252, 165, 10},  {0.9, 246, 215, 70},  {1.0, 252, 255, 164}};
  static const std::vector<Anchor> gray = {{0.0, 0, 0, 0}, {1.0, 255, 255, 255}};
  switch (colormap) {
    case Colormap::kTurbo: return turbo;
    case Colormap::kMagma: return magma;
    case Colormap::kInferno: return inferno;
    default: return gray;
  }
}

uint8_t to_byte(double v) {
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
}

std::array<uint8_t, 3> interpolate(const std::vector<Anchor>& a, double t) {
  size_t i = 1;
  while (i + 1 < a.size() && a[i].t < t) ++i;
  const Anchor& lo = a[i - 1];
  const Anchor& hi = a[i];
  const double f = (t - lo.t) / (hi.t - lo.t);
  return {to_byte(lo.r + f * (hi.r - lo.r)), to_byte(lo.g + f * (hi.g - lo.g)),
          to_byte(lo.b + f * (hi.b - lo.b))};
}

// Hue sweep from red (0 deg) to violet (270 deg) at full saturation and value.
std::array<uint8_t, 3> rainbow(double t) {
  const double h = t * 270.0 / 60.0;  // sector 0..4.5
  const int sector = std::min(5, static_cast<int>(h));
  const double f = h - sector;
  double r = 0, g = 0, b = 0;
  switch (sector) {
    case 0: r = 1, g = f, b = 0; break;
    case 1: r = 1 - f, g = 1, b = 0; break;
    case 2: r = 0, g = 1, b = f; break;
    case 3: r = 0, g = 1 - f, b = 1; break;
    default: r = f, g = 0, b = 1; break;
  }
  return {to_byte(255 * r), to_byte(255 * g), to_byte(255 * b)};
}

// 1024-entry lookup per map, built on first use.
const std::vector<std::array<uint8_t, 3>>& lut(Colormap colormap) {
  constexpr int kSize = 1024;
  static std::array<std::vector<std::array<uint8_t, 3>>, 5> tables;
  static std::once_flag once[5];
  const int index = static_cast<int>(colormap);
  std::call_once(once[index], [&] {
    auto& table = tables[index];
    table.resize(kSize);
    for (int i = 0; i < kSize; ++i) table[i] = colormap_color(colormap, i / double(kSize - 1));
  });
  return tables[index];
}

}  // namespace

Colormap parse_colormap(const std::string& name) {
  const std::string n = to_lower(name);
  if (n == "turbo") return Colormap::kTurbo;
  if (n == "magma") return Colormap::kMagma;
  if (n == "inferno") return Colormap::kInferno;
  if (n == "rainbow") return Colormap::kRainbow;
  if (n == "gray" || n == "grey") return Colormap::kGray;
  throw UsageError(cat("--colormap: unknown colour map '", name,
                       "' (expected turbo, magma, inferno, rainbow or gray)"));
}

std::string to_string(Colormap colormap) {
  switch (colormap) {
    case Colormap::kTurbo: return "turbo";
    case Colormap::kMagma: return "magma";
    case Colormap::kInferno: return "inferno";
    case Colormap::kRainbow: return "rainbow";
    case Colormap::kGray: return "gray";
  }
  return "?";
}

std::array<uint8_t, 3> colormap_color(Colormap colormap, double t) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  if (colormap == Colormap::kRainbow) return rainbow(t);
  return interpolate(anchors(colormap), t);
}

Image8 colorize(const float* depth, int height, int width, Colormap colormap, double min_depth,
                double max_depth) {
  check(max_depth > min_depth, "colour range must have max > min, got [", min_depth, ", ",
        max_depth, "]");
  const auto& table = lut(colormap);
  const double last = static_cast<double>(table.size() - 1);
  const double scale = last / (max_depth - min_depth);
  Image8 out(width, height, 3);
  const size_t n = static_cast<size_t>(width) * height;
  for (size_t i = 0; i < n; ++i) {
    const float d = depth[i];
    uint8_t* px = out.pixels.data() + 3 * i;
    if (!(d > 0) || !std::isfinite(d)) continue;  // black
    const double pos = std::clamp((d - min_depth) * scale, 0.0, last);
    const auto& c = table[static_cast<size_t>(std::lround(pos))];
    px[0] = c[0];
    px[1] = c[1];
    px[2] = c[2];
  }
  return out;
}

Image8 colorize(const torch::Tensor& depth, Colormap colormap, double min_depth,
                double max_depth) {
  check(depth.defined() && depth.dim() >= 2, "colorize: depth must be [H,W] (got ",
        depth.defined() ? depth.sizes() : c10::IntArrayRef{}, ")");
  check(depth.numel() == depth.size(-2) * depth.size(-1),
        "colorize: depth must hold one image, got shape ", depth.sizes());
  torch::Tensor d = depth.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return colorize(d.data_ptr<float>(), static_cast<int>(depth.size(-2)),
                  static_cast<int>(depth.size(-1)), colormap, min_depth, max_depth);
}

}  // namespace glpdepth
