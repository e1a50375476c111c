// The per-frame files of `glpdepth predict` as a pipeline sink, into one folder (each file
// written atomically), named by the frame's output name without its extension:
//   <stem>_depth.png    colour map over the fixed range [vis_min, vis_max] (never per frame)
//   <stem>_depth16.png  uint16, metres x 256 (the eval-pngs format)   (png16)
//   <stem>_depth.npy    float32 metres, (H, W)                         (npy)
//   <stem>_panel.png    image | depth | colour bar                     (panel)
//   <stem>.ply          point cloud coloured by the image              (ply; needs intrinsics)
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "glpdepth/infer/pipeline.h"
#include "glpdepth/io/colormap.h"

namespace glpdepth {

struct DepthFileOptions {
  std::filesystem::path dir;  // must exist
  Colormap colormap = Colormap::kTurbo;
  double vis_min = 0.0;
  double vis_max = 80.0;
  bool colour = true;  // <stem>_depth.png
  bool png16 = false;
  bool npy = false;
  bool panel = false;  // needs the frames' samples (images)
  bool ply = false;    // needs the samples and their intrinsics
  double ply_max_depth = 0.0;  // > 0: leave deeper points out
};

// Error (at the first frame) when a frame lacks what an output needs.
std::unique_ptr<DepthSink> depth_file_sink(const DepthFileOptions& options);

// "<dir>/<name>_depth.png (turbo, 0 to 80 m), <name>_depth16.png (metres x 256), ...": what
// the sink writes, for the closing report.
std::string describe_depth_files(const DepthFileOptions& options);

}  // namespace glpdepth
