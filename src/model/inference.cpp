#include "glpdepth/model/inference.h"

#include <torch/torch.h>

#include "glpdepth/util/error.h"

namespace glpdepth {

torch::Tensor canonical_to_metric(const torch::Tensor& intrinsics, double canonical_focal,
                                  const std::string& what) {
  check(canonical_focal > 0, what, ": canonical focal must be positive, got ", canonical_focal);
  check(intrinsics.defined() && intrinsics.dim() == 2 && intrinsics.size(1) == 4, what,
        ": camera-aware model (canonical focal ", canonical_focal,
        " px) needs the intrinsics of every image; none were given");
  torch::Tensor fx = intrinsics.select(1, 0).to(torch::kFloat64);
  const double smallest = fx.numel() > 0 ? fx.min().item<double>() : 1.0;
  check(smallest > 0, what, ": camera-aware model (canonical focal ", canonical_focal,
        " px) needs the focal length of every image, but an image has none (give --intrinsics "
        "or --calib, or a dataset with calibration files or camera.json)");
  return (fx / canonical_focal).to(torch::kFloat32).view({-1, 1, 1, 1});
}

torch::Tensor predict_depth(GLPDepth& model, const torch::Tensor& images, bool flip_test,
                            const torch::Tensor& intrinsics) {
  return predict_depth([&model](const torch::Tensor& input) { return model->forward(input); },
                       model->options().canonical_focal, images, flip_test, intrinsics);
}

torch::Tensor predict_depth(const DepthNetwork& network, double canonical,
                            const torch::Tensor& images, bool flip_test,
                            const torch::Tensor& intrinsics) {
  torch::Tensor to_metric;
  if (canonical > 0)  // checked before the forward: a missing camera must not cost a forward
    to_metric = canonical_to_metric(intrinsics, canonical, "predict").to(images.device());
  torch::Tensor depth;
  if (!flip_test) {
    depth = network(images);
  } else {
    const int64_t batch = images.size(0);
    auto both = network(torch::cat({images, images.flip({3})}, 0));
    depth = 0.5 * (both.narrow(0, 0, batch) + both.narrow(0, batch, batch).flip({3}));
  }
  return to_metric.defined() ? depth * to_metric.to(depth.scalar_type()) : depth;
}

}  // namespace glpdepth
