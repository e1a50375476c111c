#include "glpdepth/eval/crops.h"

#include <algorithm>
#include <cctype>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace {


// [H,W], [1,H,W] or [1,1,H,W] -> float32 CPU [H,W].
torch::Tensor as_frame(const torch::Tensor& t, const char* what) {
  check(t.defined(), "evaluation: ", what, " is undefined");
  check(t.dim() >= 2, "evaluation: ", what, " must have at least 2 dims, got shape ", t.sizes());
  for (int64_t d = 0; d + 2 < t.dim(); ++d) {
    check(t.size(d) == 1, "evaluation: ", what, " must be one image ([H,W], [1,H,W] or [1,1,H,W]), "
          "got shape ", t.sizes());
  }
  return t.detach().to(torch::kCPU, torch::kFloat32).reshape({t.size(-2), t.size(-1)});
}

torch::Tensor slice(const torch::Tensor& t, const Window& w) {
  return t.slice(0, w.top, w.bottom).slice(1, w.left, w.right);
}

}  // namespace

EvalCrop parse_kitti_crop(const std::string& name) {
  std::string n = to_lower(name);
  if (n.empty() || n == "none") return EvalCrop::kNone;
  if (n == "garg" || n == "garg_crop") return EvalCrop::kGarg;
  if (n == "eigen" || n == "eigen_crop") return EvalCrop::kEigen;
  throw UsageError(cat("--kitti_crop: unknown crop '", name, "' (expected garg, eigen or none)"));
}

KittiProtocol parse_protocol(const std::string& name) {
  std::string n = to_lower(name);
  if (n == "kb-crop" || n == "kb_crop" || n == "kb") return KittiProtocol::kKbCrop;
  if (n == "full-frame" || n == "full_frame" || n == "full") return KittiProtocol::kFullFrame;
  throw UsageError(
      cat("--protocol: unknown protocol '", name, "' (expected kb-crop or full-frame)"));
}

std::string to_string(EvalCrop crop) {
  switch (crop) {
    case EvalCrop::kNone: return "none";
    case EvalCrop::kGarg: return "garg";
    case EvalCrop::kEigen: return "eigen";
    case EvalCrop::kNyuEigen: return "nyu_eigen";
  }
  return "?";
}

std::string to_string(KittiProtocol protocol) {
  return protocol == KittiProtocol::kKbCrop ? "kb-crop" : "full-frame";
}

Window kb_crop_window(int height, int width) {
  return window_rect(kKbCropWindow, height, width, "KITTI kb-crop: frame");
}

EvalCrop effective_crop(const EvalSettings& settings) {
  switch (settings.dataset) {
    case DatasetKind::kKitti: return settings.kitti_crop;
    case DatasetKind::kNyuDepthV2: return settings.nyu_crop ? EvalCrop::kNyuEigen : EvalCrop::kNone;
    default: return EvalCrop::kNone;
  }
}

Window crop_window(EvalCrop crop, int height, int width) {
  // The fractions are the reference's literals; int() truncates the float64 product.
  auto at = [](double fraction, int size) { return static_cast<int>(fraction * size); };
  Window w{0, height, 0, width};
  switch (crop) {
    case EvalCrop::kNone:
      break;
    case EvalCrop::kGarg:
      w = {at(0.40810811, height), at(0.99189189, height), at(0.03594771, width),
           at(0.96405229, width)};
      break;
    case EvalCrop::kEigen:
      w = {at(0.3324324, height), at(0.91351351, height), at(0.0359477, width),
           at(0.96405229, width)};
      break;
    case EvalCrop::kNyuEigen:
      check(height == 480 && width == 640, "the NYU Eigen crop (rows 45:471, cols 41:601) is "
            "defined on 480x640 frames, got ", height, "x", width,
            " (use --dataset generic for other sizes)");
      w = {45, 471, 41, 601};
      break;
  }
  return w;
}

torch::Tensor eval_mask(const EvalSettings& settings, int height, int width) {
  Window w = crop_window(effective_crop(settings), height, width);
  torch::Tensor mask = torch::zeros({height, width}, torch::kBool);
  slice(mask, w).fill_(true);
  return mask;
}

torch::Tensor valid_mask(const EvalSettings& settings, const torch::Tensor& gt) {
  return torch::logical_and(gt > settings.min_depth_eval, gt < settings.max_depth_eval);
}

torch::Tensor eval_mask(const EvalSettings& settings, const torch::Tensor& gt) {
  torch::Tensor g = as_frame(gt, "ground truth");
  return torch::logical_and(valid_mask(settings, g),
                            eval_mask(settings, static_cast<int>(g.size(0)),
                                      static_cast<int>(g.size(1))));
}

EvalFrame prepare_eval_frame(const EvalSettings& settings, const torch::Tensor& pred,
                             const torch::Tensor& gt) {
  torch::Tensor p =
      sanitize_prediction(as_frame(pred, "prediction"), settings.min_depth_eval,
                          settings.max_depth_eval);
  torch::Tensor g = as_frame(gt, "ground truth");
  const int ph = static_cast<int>(p.size(0)), pw = static_cast<int>(p.size(1));
  const int gh = static_cast<int>(g.size(0)), gw = static_cast<int>(g.size(1));
  const bool same = ph == gh && pw == gw;
  const bool pred_is_kb = ph == kKbCropHeight && pw == kKbCropWidth;
  const bool gt_fits_kb = gh >= kKbCropHeight && gw >= kKbCropWidth;
  auto mismatch = [&](const char* why) {
    return Error(cat("prediction ", ph, "x", pw, " and ground truth ", gh, "x", gw,
                     " cannot be compared: ", why));
  };

  EvalFrame f;
  if (settings.dataset == DatasetKind::kKitti) {
    if (settings.protocol == KittiProtocol::kKbCrop) {
      // Crop GT before computing validity (B4); a full-size prediction is cropped alike.
      if (!same) {
        if (!(pred_is_kb && gt_fits_kb)) {
          throw mismatch("KITTI kb-crop expects a 352x1216 prediction or equal sizes");
        }
        g = slice(g, kb_crop_window(gh, gw));
      } else if (gt_fits_kb && (gh > kKbCropHeight || gw > kKbCropWidth)) {
        // Equal sizes that cannot hold a kb-crop (e.g. small synthetic frames) stay as they are.
        Window kb = kb_crop_window(gh, gw);
        g = slice(g, kb);
        p = slice(p, kb);
      }
      f.pred = p.contiguous();
      f.gt = g.contiguous();
      f.pred_window = {0, static_cast<int>(f.gt.size(0)), 0, static_cast<int>(f.gt.size(1))};
    } else {
      f.gt = g.contiguous();
      if (same) {
        f.pred = p.contiguous();
        f.pred_window = {0, gh, 0, gw};
      } else {
        if (!(pred_is_kb && gt_fits_kb)) {
          throw mismatch("KITTI full-frame expects a 352x1216 prediction or equal sizes");
        }
        f.pred_window = kb_crop_window(gh, gw);
        f.pred = torch::zeros({gh, gw}, torch::kFloat32);
        slice(f.pred, f.pred_window).copy_(p);
      }
    }
  } else {
    if (!same) throw mismatch("sizes differ");
    f.pred = p.contiguous();
    f.gt = g.contiguous();
    f.pred_window = {0, gh, 0, gw};
  }

  const int h = static_cast<int>(f.gt.size(0)), w = static_cast<int>(f.gt.size(1));
  f.mask = torch::logical_and(valid_mask(settings, f.gt), eval_mask(settings, h, w));
  if (!(f.pred_window == Window{0, h, 0, w})) {
    torch::Tensor inside = torch::zeros({h, w}, torch::kBool);
    slice(inside, f.pred_window).fill_(true);
    f.mask = torch::logical_and(f.mask, inside);
  }
  return f;
}

std::optional<DepthMetrics> evaluate_image(MetricAccumulator& accumulator,
                                           const EvalSettings& settings, const torch::Tensor& pred,
                                           const torch::Tensor& gt, const std::string& name) {
  EvalFrame f = prepare_eval_frame(settings, pred, gt);
  return accumulator.add(f.pred, f.gt, f.mask, name);
}

std::string describe(const EvalSettings& settings) {
  std::string s = cat("dataset ", to_string(settings.dataset));
  if (settings.dataset == DatasetKind::kKitti) {
    s += cat(", protocol ", to_string(settings.protocol),
             settings.protocol == KittiProtocol::kKbCrop
                 ? " (crops on the 352x1216 kb-cropped frame)"
                 : " (prediction placed in the full-size frame; crops on the full GT frame)");
  }
  s += cat(", crop ", to_string(effective_crop(settings)), ", ", settings.min_depth_eval,
           " < gt < ", settings.max_depth_eval, " m");
  return s;
}

}  // namespace glpdepth
