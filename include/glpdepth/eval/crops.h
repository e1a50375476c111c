// Which pixels are evaluated: the depth-range validity mask, the spatial crops (KITTI Garg/Eigen,
// NYU Eigen) and the two KITTI protocols.
//
// KITTI protocols (spec 3.3, B4, B5):
//   kb-crop     GLPDepth's: everything happens on the 352x1216 kb-cropped frame. Full-size GT is
//               kb-cropped first (before the validity mask, fixing B4), and the Garg/Eigen
//               fractions apply to the 352x1216 frame (Garg: rows 143:349, cols 43:1172).
//   full-frame  The standard protocol: a 352x1216 prediction is placed back into the full-size
//               frame at the kb-crop offsets (top = h - 352, left = int((w - 1216) / 2)) and the
//               crop fractions apply to the full-size GT frame (Garg on 375x1242: rows 153:371,
//               cols 44:1197). Our decision: pixels outside the prediction window are NOT
//               evaluated (they are not filled with a constant that would invent errors); with the
//               Garg/Eigen crops on standard KITTI frames the window covers the crop anyway.
// The default crop is `none` (valid pixels only), so KITTI never fails for a missing crop (B3).
#pragma once
#include <torch/types.h>

#include <optional>
#include <string>

#include "glpdepth/data/dataset_kind.h"
#include "glpdepth/data/window.h"
#include "glpdepth/eval/metrics.h"

namespace glpdepth {

enum class EvalCrop { kNone, kGarg, kEigen, kNyuEigen };
enum class KittiProtocol { kKbCrop, kFullFrame };

struct EvalSettings {
  DatasetKind dataset = DatasetKind::kFolder;  // its row gives the default depth range
  EvalCrop kitti_crop = EvalCrop::kNone;               // used for KITTI only
  KittiProtocol protocol = KittiProtocol::kKbCrop;    // used for KITTI only
  bool nyu_crop = true;                               // NYU Eigen crop 45:471, 41:601
  double min_depth_eval = 1e-3;                       // strict: gt > min
  double max_depth_eval = 80.0;                       // strict: gt < max
};

// Accepts garg / garg_crop, eigen / eigen_crop, none / "" (any case). Throws UsageError.
EvalCrop parse_kitti_crop(const std::string& name);
// Accepts kb-crop / kb_crop, full-frame / full_frame / full. Throws UsageError.
KittiProtocol parse_protocol(const std::string& name);
std::string to_string(EvalCrop crop);        // none, garg, eigen, nyu_eigen
std::string to_string(KittiProtocol protocol);  // kb-crop, full-frame

constexpr int kKbCropHeight = 352;
constexpr int kKbCropWidth = 1216;
// The KITTI kb-crop window: bottom-centre 352x1216.
inline constexpr WindowSpec kKbCropWindow{WindowKind::kBottomCentre, kKbCropHeight, kKbCropWidth, 0};
// rows [h-352, h), cols [int((w-1216)/2), +1216). Throws if the frame is smaller than that.
Window kb_crop_window(int height, int width);

// The crop that applies under these settings: the KITTI crop for KITTI, the NYU Eigen crop for
// NYU (if nyu_crop), none otherwise.
EvalCrop effective_crop(const EvalSettings& settings);
// The crop rectangle on an h x w frame (the whole frame for `none`). Garg: rows
// [int(0.40810811 h), int(0.99189189 h)), cols [int(0.03594771 w), int(0.96405229 w)); Eigen:
// rows [int(0.3324324 h), int(0.91351351 h)), cols [int(0.0359477 w), int(0.96405229 w)); NYU
// Eigen: rows 45:471, cols 41:601 (the frame must be 480x640).
Window crop_window(EvalCrop crop, int height, int width);

// Spatial part only: bool [h, w], true inside the crop.
torch::Tensor eval_mask(const EvalSettings& settings, int height, int width);
// min < gt < max (strict), bool, gt's shape.
torch::Tensor valid_mask(const EvalSettings& settings, const torch::Tensor& gt);
// valid AND crop, bool [H, W] for a gt of H x W (leading singleton dims allowed).
torch::Tensor eval_mask(const EvalSettings& settings, const torch::Tensor& gt);

// A prediction and its GT on the frame where they are compared, with the mask to evaluate.
struct EvalFrame {
  torch::Tensor pred;  // float32 CPU [H, W], sanitised (inf -> max, NaN -> min)
  torch::Tensor gt;    // float32 CPU [H, W]
  torch::Tensor mask;  // bool [H, W]
  Window pred_window;  // where the prediction lies in the frame (the whole frame if aligned)
};

// Brings pred and gt ([H,W], [1,H,W] or [1,1,H,W]; CPU or CUDA) onto the evaluation frame.
// KITTI kb-crop: a full-size GT (and a full-size prediction) is kb-cropped to 352x1216; equal
// sizes too small for a kb-crop are used as they are.
// KITTI full-frame: a 352x1216 prediction is placed into the GT's full-size frame.
// Otherwise the shapes must match. Throws Error naming both shapes when they cannot be aligned.
EvalFrame prepare_eval_frame(const EvalSettings& settings, const torch::Tensor& pred,
                             const torch::Tensor& gt);

// prepare_eval_frame + accumulate: the whole protocol for one image.
std::optional<DepthMetrics> evaluate_image(MetricAccumulator& accumulator,
                                           const EvalSettings& settings, const torch::Tensor& pred,
                                           const torch::Tensor& gt, const std::string& name = "");

// One line for logs and metrics.json, naming dataset, protocol, crop and depth range.
std::string describe(const EvalSettings& settings);

}  // namespace glpdepth
