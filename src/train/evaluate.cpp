#include "glpdepth/train/evaluate.h"

#include <torch/torch.h>

#include <chrono>

#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/train/loss.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

std::string png_name(const std::string& sample_name) {
  std::filesystem::path name(sample_name);
  name.replace_extension(".png");
  return name.filename().string();
}

EvaluateResult evaluate_model(GLPDepth& model, Loader& loader, const EvaluateOptions& options) {
  check(loader.dataset().has_depth(), "evaluation needs a dataset with depth ground truth");
  const auto start = std::chrono::steady_clock::now();
  model->eval();
  EvaluateResult result;
  const int64_t total = loader.num_batches();
  int64_t done = 0;
  std::string visualize_suffix = options.visualize_dir == options.eval_png_dir ? "_vis" : "";
  for (Batch& batch : loader) {
    ++done;
    if (batch.empty()) continue;
    torch::Tensor depth;
    {
      torch::InferenceMode inference;
      AutocastGuard autocast(options.device, options.precision);
      auto images = batch.image.to(options.device, /*non_blocking=*/true);
      if (options.channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
      depth = predict_depth(model, images, options.flip_test, batch.intrinsics)
                  .to(torch::kCPU, torch::kFloat32);
    }
    for (int64_t i = 0; i < batch.size(); ++i) {
      auto pred = depth[i];
      auto gt = batch.depth[i];
      const std::string& name = batch.names[i];
      evaluate_image(result.metrics, options.settings, pred, gt, name);
      // Per-image SiLog loss, the quantity training minimises (pixels with gt > 0).
      if ((gt > 0).any().item<bool>()) {
        SiLogOptions loss_options;
        loss_options.lambda = options.silog_lambda;
        result.loss_sum += silog_loss(pred.unsqueeze(0), gt.unsqueeze(0), loss_options).item<double>();
        ++result.loss_images;
      }
      if (!options.eval_png_dir.empty())
        write_depth_png16(options.eval_png_dir / png_name(name), pred, options.png_scale);
      if (!options.visualize_dir.empty()) {
        std::filesystem::path file = options.visualize_dir / png_name(name);
        file.replace_filename(file.stem().string() + visualize_suffix + ".png");
        write_image(file, colorize(pred[0], options.colormap, options.visualize_min,
                                   options.visualize_max));
      }
    }
    if (options.on_batch) options.on_batch(done, total, result.mean_loss());
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace glpdepth
