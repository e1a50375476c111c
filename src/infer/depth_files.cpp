#include "glpdepth/infer/depth_files.h"

#include <torch/torch.h>

#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

class DepthFiles final : public DepthSink {
 public:
  explicit DepthFiles(DepthFileOptions options) : o_(std::move(options)) {
    check(o_.vis_max > o_.vis_min, "depth colour range: max (", o_.vis_max, ") must exceed min (",
          o_.vis_min, ")");
  }

  void write(const Frames& frames) override {
    const bool need_images = o_.panel || o_.ply;
    check(!need_images || frames.samples.size() == static_cast<size_t>(frames.size()),
          "depth files: panels and point clouds need the frames' images");
    for (int64_t k = 0; k < frames.size(); ++k) {
      const Sample* sample = need_images ? &frames.samples[static_cast<size_t>(k)] : nullptr;
      write_one(frames.batch.names[static_cast<size_t>(k)], sample,
                frames.prediction[k][0].contiguous());
    }
  }

 private:
  void write_one(const std::string& name, const Sample* s, const torch::Tensor& depth) {
    const std::string stem = fs::path(name).stem().string();
    if (o_.colour)
      write_image(o_.dir / (stem + "_depth.png"), colorize(depth, o_.colormap, o_.vis_min, o_.vis_max));
    if (o_.png16) write_depth_png16(o_.dir / (stem + "_depth16.png"), depth, 256.0);
    if (o_.npy) write_npy(o_.dir / (stem + "_depth.npy"), depth);
    if (o_.panel) {
      PanelOptions panel;
      panel.colormap = o_.colormap;
      panel.min_depth = o_.vis_min;
      panel.max_depth = o_.vis_max;
      write_image(o_.dir / (stem + "_panel.png"), render_panel(s->rgb, depth, panel));
    }
    if (o_.ply) {
      check(s->intrinsics.known(), "input image ", s->source, ": no camera intrinsics for the point cloud");
      PlyOptions ply;
      ply.max_depth = o_.ply_max_depth;
      write_ply(o_.dir / (stem + ".ply"), depth, &s->rgb, s->intrinsics, ply);
    }
  }

  DepthFileOptions o_;
};

}  // namespace

std::unique_ptr<DepthSink> depth_file_sink(const DepthFileOptions& options) {
  return std::make_unique<DepthFiles>(options);
}

std::string describe_depth_files(const DepthFileOptions& o) {
  std::vector<std::string> parts;
  if (o.colour)
    parts.push_back(cat("<name>_depth.png (", to_string(o.colormap), ", ", o.vis_min, " to ", o.vis_max, " m)"));
  if (o.png16) parts.push_back("<name>_depth16.png (metres x 256)");
  if (o.npy) parts.push_back("<name>_depth.npy");
  if (o.panel) parts.push_back("<name>_panel.png");
  if (o.ply) parts.push_back("<name>.ply");
  std::string out = o.dir.string() + "/";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

}  // namespace glpdepth
