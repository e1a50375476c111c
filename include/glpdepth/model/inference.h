// Running a trained model: plain or flip-test inference.
#pragma once
#include <torch/types.h>

#include <functional>
#include <string>

#include "glpdepth/model/glpdepth.h"

namespace glpdepth {

// Depth in metres [B,1,H,W] for images [B,3,H,W]. With flip_test, the images and their mirrors
// go through the network as one batch of 2B and the mirrored prediction is flipped back and
// averaged in. The caller chooses the grad mode (InferenceMode for plain inference).
// A camera-aware model (options().canonical_focal > 0) needs `intrinsics` [B,4] (fx, fy, cx, cy
// per image, as Batch::intrinsics): its output is rescaled to metres by canonical_to_metric.
torch::Tensor predict_depth(GLPDepth& model, const torch::Tensor& images, bool flip_test,
                            const torch::Tensor& intrinsics = {});

// The same for any engine: `network` maps images [N,3,H,W] to the model's raw output [N,1,H,W]
// (for a camera-aware model, depth for its canonical focal `canonical_focal`; 0 = metric).
using DepthNetwork = std::function<torch::Tensor(const torch::Tensor&)>;
torch::Tensor predict_depth(const DepthNetwork& network, double canonical_focal,
                            const torch::Tensor& images, bool flip_test,
                            const torch::Tensor& intrinsics = {});

// The factor [B,1,1,1] that turns depth of a virtual camera with focal `canonical_focal` into
// metric depth for cameras with these intrinsics [B,4]: fx / canonical_focal. Same pixel size,
// same object: depth scales with the focal length (z = f * size / pixels). Throws Error naming
// `what` when an image has no known focal length (fx <= 0).
torch::Tensor canonical_to_metric(const torch::Tensor& intrinsics, double canonical_focal,
                                  const std::string& what);

}  // namespace glpdepth
