// Running a trained model: plain or flip-test inference.
#pragma once
#include <torch/types.h>

#include "glpdepth/model/glpdepth.h"

namespace glpdepth {

// Depth in metres [B,1,H,W] for images [B,3,H,W]. With flip_test, the images and their mirrors
// go through the network as one batch of 2B and the mirrored prediction is flipped back and
// averaged in. The caller chooses the grad mode (InferenceMode for plain inference).
torch::Tensor predict_depth(GLPDepth& model, const torch::Tensor& images, bool flip_test);

}  // namespace glpdepth
