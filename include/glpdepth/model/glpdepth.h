// GLPDepth: MiT (SegFormer) encoder + selective-feature-fusion decoder + sigmoid depth head.
// Parameter and buffer names equal the reference PyTorch state_dict keys (see docs/MODEL.md).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "glpdepth/model/mit.h"
#include "glpdepth/model/decoder.h"

namespace glpdepth {

struct GLPDepthOptions {
  MitEncoder encoder = MitEncoder::kB4;
  double max_depth = 80.0;      // head output lies in (0, max_depth) metres
  double drop_path_rate = 0.1;  // stochastic depth, linear 0..rate over all blocks
  bool sync_batchnorm = false;  // decoder BatchNorms as dist::SyncBatchNorm2d (same names)
  // Camera-aware mode (docs/CAMERAS.md): > 0 means the network predicts depth as seen by a
  // virtual camera of this focal length in pixels; metric depth = output * fx / canonical_focal
  // (predict_depth). 0 = off: the output is metric depth for the training camera.
  double canonical_focal = 0.0;
};

class GLPDepthImpl : public torch::nn::Module {
 public:
  explicit GLPDepthImpl(GLPDepthOptions options = {});

  // image: [B,3,H,W] RGB in [0,1], any H and W. Sizes that are not multiples of 32 are padded
  // (replicate) up to the next multiple inside the model and the output is cropped back.
  // Returns depth in metres, [B,1,H,W].
  torch::Tensor forward(const torch::Tensor& image);

  const GLPDepthOptions& options() const { return options_; }
  // For weights files that do not record the mode (plain state_dicts): see load_inference_model.
  void set_canonical_focal(double focal) { options_.canonical_focal = focal; }
  MixVisionTransformer encoder{nullptr};
  Decoder decoder{nullptr};
  torch::nn::Sequential last_layer_depth{nullptr};

 private:
  GLPDepthOptions options_;
};
TORCH_MODULE(GLPDepth);

// The size rule of every GLPDepth backend: runs `network` (which takes heights and widths that are
// multiples of 32: four halvings in the encoder, skip connections in the decoder) on images
// [B,3,H,W] of any size. The bottom rows and right columns are replicated up to the next
// multiple of 32 (zeros would look like a black frame) and the output cropped back; multiples
// of 32 go through untouched.
torch::Tensor run_on_any_size(const torch::Tensor& images,
                              const std::function<torch::Tensor(const torch::Tensor&)>& network);

// The encoder variant whose key set and shapes match a state_dict (keys without any
// "module." prefix, encoder keys with or without "encoder."); throws Error when none does.
MitEncoder infer_encoder_variant(const std::vector<std::string>& keys,
                                  int64_t patch_embed1_out_channels);

}  // namespace glpdepth
