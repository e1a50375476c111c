// What `predict` and `test` write for a depth map: 16-bit PNG (the eval-pngs input format),
// float32 .npy, a coloured PLY point cloud, and a side-by-side panel with a colour bar.
// Every writer is atomic and every error names the file.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/image.h"

namespace glpdepth {

// ---- 16-bit PNG ----------------------------------------------------------------------------
// value = round(depth * scale), clamped to [0, 65535]; invalid (<= 0, NaN, inf) -> 0.
// scale: 256 for KITTI / DrivingStereo, 1000 for NYU. depth: [H,W] (or [1,H,W], [1,1,H,W]).
Image16 depth_to_image16(const torch::Tensor& depth, double scale);
void write_depth_png16(const std::filesystem::path& path, const torch::Tensor& depth,
                       double scale);
// value / scale as float32 [H,W]; 0 stays 0 (invalid).
torch::Tensor image16_to_depth(const Image16& image, double scale);
torch::Tensor read_depth_png16(const std::filesystem::path& path, double scale);

// ---- NumPy .npy ----------------------------------------------------------------------------
// Format version 1.0, dtype '<f4', C order, shape = the tensor's shape ((H, W) for a depth map).
std::string encode_npy(const torch::Tensor& array);
void write_npy(const std::filesystem::path& path, const torch::Tensor& array);
// Reads what encode_npy writes (float32 little-endian, C order, version 1.x/2.x header).
torch::Tensor read_npy(const std::filesystem::path& path);

// ---- PLY point cloud -----------------------------------------------------------------------
enum class PlyFormat { kBinaryLittleEndian, kAscii };

struct PlyOptions {
  PlyFormat format = PlyFormat::kBinaryLittleEndian;
  double min_depth = 0.0;  // points with depth <= min_depth are skipped (and invalid ones always)
  double max_depth = 0.0;  // > 0: points with depth > max_depth are skipped
};

// One vertex per valid pixel (u, v): Z = depth, X = (u - cx) Z / fx, Y = (v - cy) Z / fy
// (camera frame: x right, y down, z forward), coloured from `rgb` (3 channels, same size as
// the depth map; nullptr = white). Properties: float x y z, uchar red green blue.
// Returns the number of points written.
int64_t write_ply(const std::filesystem::path& path, const torch::Tensor& depth,
                  const Image8* rgb, const Intrinsics& intrinsics,
                  const PlyOptions& options = {});

// ---- Panel -----------------------------------------------------------------------------------
struct PanelOptions {
  Colormap colormap = Colormap::kTurbo;
  double min_depth = 0.0;   // the fixed colour range (never the image's own max, B15)
  double max_depth = 80.0;
  int colorbar_width = 0;   // 0 = automatic (about H/5, at least 60 px)
};

// A vertical colour bar, max at the top, with tick marks and labels in metres ("20m").
Image8 render_colorbar(int height, const PanelOptions& options);

// image | coloured depth | colour bar, all at the depth map's height. `rgb` (channels 1 or 3)
// is resized (nearest) to the depth map's size when they differ; an empty image (width 0) is
// left out.
Image8 render_panel(const Image8& rgb, const torch::Tensor& depth, const PanelOptions& options);

// A validation preview in two rows of equal width:
//   image        | prediction                       | depth colour bar [min_depth, max_depth]
//   ground truth | absolute error |pred - gt|       | error colour bar [0, max_depth / 4]
// Prediction and ground truth share the depth colours; invalid ground truth (0) is black, and
// so is the error there.
Image8 render_preview(const Image8& rgb, const torch::Tensor& pred, const torch::Tensor& gt,
                      const PanelOptions& options);

// Draws text with the built-in 5x7 font (digits, '.', '-', '+', 'm', 'e' and space), each
// glyph pixel a scale x scale block; (x, y) is the top-left corner. Unknown characters are blank.
void draw_text(Image8& image, int x, int y, const std::string& text, int scale,
               const std::array<uint8_t, 3>& color);
// Width in pixels of draw_text's output.
int text_width(const std::string& text, int scale);

}  // namespace glpdepth
