#include "glpdepth/io/depth_outputs.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

// [H,W], [1,H,W] or [1,1,H,W] -> contiguous float32 CPU [H,W].
torch::Tensor depth_frame(const torch::Tensor& depth, const std::string& where) {
  check(depth.defined() && depth.dim() >= 2, where, ": depth must be [H,W], got ",
        depth.defined() ? cat(depth.sizes()) : std::string("an undefined tensor"));
  check(depth.numel() == depth.size(-2) * depth.size(-1), where,
        ": depth must hold one image ([H,W], [1,H,W] or [1,1,H,W]), got shape ", depth.sizes());
  return depth.detach()
      .to(torch::kCPU, torch::kFloat32)
      .reshape({depth.size(-2), depth.size(-1)})
      .contiguous();
}

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

void append_le32(std::string& out, const void* value) {
  char bytes[4];
  std::memcpy(bytes, value, 4);
  if (!host_is_little_endian()) {
    std::swap(bytes[0], bytes[3]);
    std::swap(bytes[1], bytes[2]);
  }
  out.append(bytes, 4);
}

// Nearest-neighbour resize of an 8-bit image.
Image8 resize_nearest(const Image8& in, int width, int height) {
  if (in.width == width && in.height == height) return in;
  Image8 out(width, height, in.channels);
  for (int y = 0; y < height; ++y) {
    const int sy = std::min(in.height - 1, static_cast<int>((y + 0.5) * in.height / height));
    for (int x = 0; x < width; ++x) {
      const int sx = std::min(in.width - 1, static_cast<int>((x + 0.5) * in.width / width));
      std::memcpy(out.at(x, y), in.at(sx, sy), in.channels);
    }
  }
  return out;
}

// Our 5x7 glyphs; each row is 5 bits, bit 4 = leftmost column.
const uint8_t* glyph(char c) {
  static const uint8_t kDigits[10][7] = {
      {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},  // 0
      {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 1
      {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},  // 2
      {0x1E, 0x01, 0x01, 0x0E, 0x01, 0x01, 0x1E},  // 3
      {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},  // 4
      {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 5
      {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},  // 6
      {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 7
      {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},  // 8
      {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 9
  };
  static const uint8_t kDot[7] = {0, 0, 0, 0, 0, 0x0C, 0x0C};
  static const uint8_t kMinus[7] = {0, 0, 0, 0x1F, 0, 0, 0};
  static const uint8_t kPlus[7] = {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0};
  static const uint8_t kM[7] = {0, 0, 0x1A, 0x15, 0x15, 0x15, 0x15};
  static const uint8_t kE[7] = {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E};
  if (c >= '0' && c <= '9') return kDigits[c - '0'];
  switch (c) {
    case '.': return kDot;
    case '-': return kMinus;
    case '+': return kPlus;
    case 'm': return kM;
    case 'e': return kE;
    default: return nullptr;
  }
}

constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = 6;

void fill_rect(Image8& image, int x0, int y0, int w, int h, const std::array<uint8_t, 3>& c) {
  for (int y = std::max(0, y0); y < std::min(image.height, y0 + h); ++y) {
    for (int x = std::max(0, x0); x < std::min(image.width, x0 + w); ++x) {
      uint8_t* px = image.at(x, y);
      for (int k = 0; k < image.channels; ++k) px[k] = c[std::min(k, 2)];
    }
  }
}

// Tick step 1, 2 or 5 x 10^k giving about five intervals.
double nice_step(double range) {
  const double raw = range / 5.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw * (1 - 1e-9)) return m * magnitude;
  }
  return 10.0 * magnitude;
}

std::string tick_label(double value, double step) {
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*fm", decimals, std::abs(value) < 1e-12 ? 0.0 : value);
  return buffer;
}

struct Tick {
  double value;
  std::string label;
};

std::vector<Tick> ticks(double lo, double hi) {
  std::vector<Tick> out;
  const double step = nice_step(hi - lo);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push_back({v, tick_label(v, step)});
  }
  return out;
}

int text_scale(int height) { return height >= 240 ? 2 : 1; }

}  // namespace

// ---- 16-bit PNG ----------------------------------------------------------------------------

Image16 depth_to_image16(const torch::Tensor& depth, double scale) {
  check(scale > 0, "depth PNG scale must be positive, got ", scale);
  torch::Tensor d = depth_frame(depth, "16-bit PNG");
  const int h = static_cast<int>(d.size(0)), w = static_cast<int>(d.size(1));
  Image16 out(w, h);
  const float* src = d.data_ptr<float>();
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const double v = static_cast<double>(src[i]) * scale;
    if (!(src[i] > 0) || std::isnan(v)) continue;  // invalid -> 0
    out.pixels[i] = v >= 65535.0 ? 65535 : static_cast<uint16_t>(std::lround(v));
  }
  return out;
}

void write_depth_png16(const fs::path& path, const torch::Tensor& depth, double scale) {
  try {
    write_png16(path, depth_to_image16(depth, scale));
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find(path.string()) != std::string::npos) throw;
    throw Error(cat("file ", path.string(), ": ", what));
  }
}

torch::Tensor image16_to_depth(const Image16& image, double scale) {
  check(scale > 0, "depth PNG scale must be positive, got ", scale);
  torch::Tensor out = torch::empty({image.height, image.width}, torch::kFloat32);
  float* dst = out.data_ptr<float>();
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    dst[i] = static_cast<float>(image.pixels[i] / scale);
  }
  return out;
}

torch::Tensor read_depth_png16(const fs::path& path, double scale) {
  return image16_to_depth(read_png16(path), scale);
}

// ---- NumPy .npy ----------------------------------------------------------------------------

std::string encode_npy(const torch::Tensor& array) {
  check(array.defined(), "npy: undefined tensor");
  torch::Tensor a = array.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::string shape = "(";
  for (int64_t d = 0; d < a.dim(); ++d) {
    shape += cat(a.size(d), a.dim() == 1 ? "," : (d + 1 < a.dim() ? ", " : ""));
  }
  shape += ")";
  std::string header =
      cat("{'descr': '<f4', 'fortran_order': False, 'shape': ", shape, ", }");
  // Magic (6) + version (2) + length (2) + header, padded with spaces and ended by '\n' to a
  // multiple of 64 bytes, as the format asks.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  check(header.size() <= 65535, "npy: header too long");
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  out += header;
  const float* data = a.data_ptr<float>();
  const int64_t n = a.numel();
  if (host_is_little_endian()) {
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n) * 4);
  } else {
    out.reserve(out.size() + static_cast<size_t>(n) * 4);
    for (int64_t i = 0; i < n; ++i) append_le32(out, data + i);
  }
  return out;
}

void write_npy(const fs::path& path, const torch::Tensor& array) {
  write_bytes_atomic(path, encode_npy(array));
}

torch::Tensor read_npy(const fs::path& path) {
  const std::string bytes = read_file_bytes(path);
  const std::string name = path.string();
  check(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, "file ", name,
        ": not a .npy file");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    offset = 10;
  } else {
    check(bytes.size() >= 12, "file ", name, ": truncated .npy header");
    for (int i = 0; i < 4; ++i) header_len |= size_t(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    offset = 12;
  }
  check(bytes.size() >= offset + header_len, "file ", name, ": truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  check(header.find("'descr': '<f4'") != std::string::npos, "file ", name,
        ": only little-endian float32 ('<f4') .npy files are supported");
  check(header.find("'fortran_order': False") != std::string::npos, "file ", name,
        ": Fortran-order .npy files are not supported");
  const size_t open = header.find('(', header.find("'shape'"));
  const size_t close = header.find(')', open);
  check(open != std::string::npos && close != std::string::npos, "file ", name,
        ": no shape in the .npy header");
  std::vector<int64_t> shape;
  std::string dims = header.substr(open + 1, close - open - 1);
  for (char& c : dims) {
    if (c == ',') c = ' ';
  }
  std::istringstream in(dims);
  int64_t d = 0;
  while (in >> d) shape.push_back(d);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const size_t data_offset = offset + header_len;
  check(bytes.size() == data_offset + static_cast<size_t>(n) * 4, "file ", name, ": expected ",
        n * 4, " data bytes, found ", bytes.size() - data_offset);
  torch::Tensor out = torch::empty(shape, torch::kFloat32);
  char* dst = reinterpret_cast<char*>(out.data_ptr<float>());
  std::memcpy(dst, bytes.data() + data_offset, static_cast<size_t>(n) * 4);
  if (!host_is_little_endian()) {
    for (int64_t i = 0; i < n; ++i) {
      std::swap(dst[4 * i], dst[4 * i + 3]);
      std::swap(dst[4 * i + 1], dst[4 * i + 2]);
    }
  }
  return out;
}

// ---- PLY -----------------------------------------------------------------------------------

int64_t write_ply(const fs::path& path, const torch::Tensor& depth, const Image8* rgb,
                  const Intrinsics& k, const PlyOptions& options) {
  const std::string where = cat("file ", path.string());
  check(k.fx > 0 && k.fy > 0, where, ": intrinsics need positive fx and fy");
  torch::Tensor d = depth_frame(depth, where);
  const int h = static_cast<int>(d.size(0)), w = static_cast<int>(d.size(1));
  Image8 colours;
  if (rgb && rgb->width > 0) {
    check(rgb->channels == 3 || rgb->channels == 1, where,
          ": point colours need a 1- or 3-channel image, got ", rgb->channels);
    colours = resize_nearest(*rgb, w, h);
  }
  const float* z = d.data_ptr<float>();
  auto keep = [&](float v) {
    return v > 0 && std::isfinite(v) && v > options.min_depth &&
           (options.max_depth <= 0 || v <= options.max_depth);
  };
  int64_t count = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(h) * w; ++i) count += keep(z[i]);

  const bool binary = options.format == PlyFormat::kBinaryLittleEndian;
  std::string out = cat("ply\nformat ", binary ? "binary_little_endian" : "ascii",
                        " 1.0\ncomment glpdepth depth back-projection, camera frame "
                        "(x right, y down, z forward), metres\n",
                        "element vertex ", count,
                        "\nproperty float x\nproperty float y\nproperty float z\n"
                        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
                        "end_header\n");
  out.reserve(out.size() + static_cast<size_t>(count) * (binary ? 15 : 40));
  char line[128];
  for (int v = 0; v < h; ++v) {
    for (int u = 0; u < w; ++u) {
      const float Z = z[static_cast<size_t>(v) * w + u];
      if (!keep(Z)) continue;
      const float X = static_cast<float>((u - k.cx) * Z / k.fx);
      const float Y = static_cast<float>((v - k.cy) * Z / k.fy);
      uint8_t c[3] = {255, 255, 255};
      if (colours.width > 0) {
        const uint8_t* px = colours.at(u, v);
        for (int j = 0; j < 3; ++j) c[j] = px[colours.channels == 3 ? j : 0];
      }
      if (binary) {
        append_le32(out, &X);
        append_le32(out, &Y);
        append_le32(out, &Z);
        out.append(reinterpret_cast<const char*>(c), 3);
      } else {
        std::snprintf(line, sizeof(line), "%.9g %.9g %.9g %u %u %u\n", X, Y, Z, c[0], c[1], c[2]);
        out += line;
      }
    }
  }
  write_bytes_atomic(path, out);
  return count;
}

// ---- Text, colour bar, panel ---------------------------------------------------------------

int text_width(const std::string& text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kAdvance - 1) * scale;
}

void draw_text(Image8& image, int x, int y, const std::string& text, int scale,
               const std::array<uint8_t, 3>& color) {
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t* g = glyph(text[i]);
    if (!g) continue;
    const int gx = x + static_cast<int>(i) * kAdvance * scale;
    for (int row = 0; row < kGlyphH; ++row) {
      for (int col = 0; col < kGlyphW; ++col) {
        if (g[row] & (0x10 >> col)) {
          fill_rect(image, gx + col * scale, y + row * scale, scale, scale, color);
        }
      }
    }
  }
}

Image8 render_colorbar(int height, const PanelOptions& options) {
  check(height > 0, "colour bar height must be positive");
  check(options.max_depth > options.min_depth, "colour range must have max > min, got [",
        options.min_depth, ", ", options.max_depth, "]");
  const int scale = text_scale(height);
  const std::vector<Tick> marks = ticks(options.min_depth, options.max_depth);
  int label_w = 0;
  for (const Tick& t : marks) label_w = std::max(label_w, text_width(t.label, scale));
  const int margin = 4 * scale, bar_w = 8 * scale, tick_len = 3 * scale;
  int width = options.colorbar_width;
  if (width <= 0) width = margin + bar_w + tick_len + 2 * scale + label_w + margin;
  Image8 out(width, height, 3);  // black background

  const int top = std::min(height / 2, (kGlyphH * scale) / 2 + 2);
  const int bottom = std::max(top + 1, height - top);  // exclusive
  const int bar_h = bottom - top;
  const double range = options.max_depth - options.min_depth;
  for (int y = top; y < bottom; ++y) {
    const double t = bar_h > 1 ? 1.0 - static_cast<double>(y - top) / (bar_h - 1) : 1.0;
    fill_rect(out, margin, y, bar_w, 1, colormap_color(options.colormap, t));
  }
  const std::array<uint8_t, 3> white = {255, 255, 255};
  for (const Tick& t : marks) {
    const int y = top + static_cast<int>(
                            std::lround((options.max_depth - t.value) / range * (bar_h - 1)));
    fill_rect(out, margin + bar_w, y, tick_len, std::max(1, scale / 2 + (scale > 1)), white);
    const int ty = std::clamp(y - (kGlyphH * scale) / 2, 0, std::max(0, height - kGlyphH * scale));
    draw_text(out, margin + bar_w + tick_len + 2 * scale, ty, t.label, scale, white);
  }
  return out;
}

Image8 render_panel(const Image8& rgb, const torch::Tensor& depth, const PanelOptions& options) {
  torch::Tensor d = depth_frame(depth, "panel");
  const int h = static_cast<int>(d.size(0)), w = static_cast<int>(d.size(1));
  Image8 coloured =
      colorize(d.data_ptr<float>(), h, w, options.colormap, options.min_depth, options.max_depth);
  Image8 bar = render_colorbar(h, options);
  Image8 image;
  if (rgb.width > 0) {
    check(rgb.channels == 3 || rgb.channels == 1,
          "panel: the image must have 1 or 3 channels, got ", rgb.channels);
    image = resize_nearest(rgb, w, h);
  }
  const int total = image.width + w + bar.width;
  Image8 out(total, h, 3);
  for (int y = 0; y < h; ++y) {
    int x0 = 0;
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* px = image.at(x, y);
      uint8_t* dst = out.at(x0 + x, y);
      for (int k = 0; k < 3; ++k) dst[k] = px[image.channels == 3 ? k : 0];
    }
    x0 += image.width;
    std::memcpy(out.at(x0, y), coloured.at(0, y), static_cast<size_t>(w) * 3);
    x0 += w;
    std::memcpy(out.at(x0, y), bar.at(0, y), static_cast<size_t>(bar.width) * 3);
  }
  return out;
}

Image8 render_preview(const Image8& rgb, const torch::Tensor& pred, const torch::Tensor& gt,
                      const PanelOptions& options) {
  torch::Tensor p = depth_frame(pred, "preview prediction");
  torch::Tensor g = depth_frame(gt, "preview ground truth");
  check(p.sizes() == g.sizes(), "preview: prediction ", p.sizes(), " and ground truth ", g.sizes(),
        " differ in size");
  const torch::Tensor valid = g > 0;
  const int h = static_cast<int>(g.size(0)), w = static_cast<int>(g.size(1));
  Image8 truth = colorize(g.data_ptr<float>(), h, w, options.colormap, options.min_depth,
                          options.max_depth);
  // Both colour bars as wide as the depth bar, whatever their labels, so the rows line up.
  PanelOptions depth_options = options;
  if (depth_options.colorbar_width <= 0)
    depth_options.colorbar_width = render_colorbar(static_cast<int>(g.size(0)), options).width;
  PanelOptions error_options = depth_options;
  error_options.colormap = Colormap::kMagma;
  error_options.min_depth = 0.0;
  error_options.max_depth = options.max_depth / 4;
  torch::Tensor error = torch::where(valid, (p - g).abs(), torch::zeros_like(g)).contiguous();
  Image8 top = render_panel(rgb, p, depth_options);
  Image8 bottom = render_panel(truth, error, error_options);
  // Invalid ground truth is black in both bottom tiles (the colour maps would show it as 0 m).
  const bool* mask = valid.contiguous().data_ptr<bool>();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (!mask[static_cast<size_t>(y) * w + x]) {
        std::memset(bottom.at(x, y), 0, 3);
        std::memset(bottom.at(w + x, y), 0, 3);
      }
  check(top.width == bottom.width, "preview: rows of different widths");
  Image8 out(top.width, top.height + bottom.height, 3);
  std::memcpy(out.pixels.data(), top.pixels.data(), top.pixels.size());
  std::memcpy(out.pixels.data() + top.pixels.size(), bottom.pixels.data(), bottom.pixels.size());
  return out;
}

}  // namespace glpdepth
