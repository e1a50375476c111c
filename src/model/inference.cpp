#include "glpdepth/model/inference.h"

#include <torch/torch.h>

namespace glpdepth {

torch::Tensor predict_depth(GLPDepth& model, const torch::Tensor& images, bool flip_test) {
  if (!flip_test) return model->forward(images);
  const int64_t batch = images.size(0);
  auto both = model->forward(torch::cat({images, images.flip({3})}, 0));
  return 0.5 * (both.narrow(0, 0, batch) + both.narrow(0, batch, batch).flip({3}));
}

}  // namespace glpdepth
