// Seed corpora for the fuzz targets, written by glpdepth's own writers: small valid inputs of
// every format, so that libFuzzer starts inside each parser instead of at its first byte.
//   make_seeds OUT  ->  OUT/<target>/<name>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "glpdepth/io/image.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/safetensors.h"
#include "glpdepth/io/video.h"
#include "glpdepth/model/serialization.h"
#include "glpdepth/train/config.h"
#include "glpdepth/util/atomic_file.h"

namespace fs = std::filesystem;
using namespace glpdepth;

namespace {

StateDict small_state() {
  return {{"encoder.patch_embed1.proj.weight", torch::arange(24, torch::kFloat32).view({2, 3, 2, 2})},
          {"decoder.bn.num_batches_tracked", torch::tensor(int64_t{7})},
          {"last_layer_depth.0.bias", torch::ones({3}, torch::kBFloat16)}};
}

void pytorch_seeds(const fs::path& out) {
  write_state_dict(out / "state_dict.pth", small_state());
  PyValue nested = PyValue::dict()
                       .set("epoch", 3)
                       .set("lr", 1e-4)
                       .set("name", "glp")
                       .set("flags", PyValue::list({true, PyValue(), PyValue::bytes("ab")}))
                       .set("shape", PyValue::tuple({2, 3}))
                       .set("half", torch::zeros({2, 2}, torch::kFloat16));
  write_pytorch_file(out / "nested.pth", nested);
}

void checkpoint_seeds(const fs::path& out) {
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  PyValue weights = PyValue::dict();
  for (const auto& [name, tensor] : small_state()) weights.set(name, tensor);
  write_pytorch_file(out / "checkpoint.ckpt", PyValue::dict()
                                                  .set(kCheckpointFormatKey, kCheckpointFormatVersion)
                                                  .set("model_options", model_header_value(options))
                                                  .set("model", weights));
  write_state_dict(out / "state_dict.pth", small_state());
  write_safetensors(out / "weights.safetensors", small_state(), safetensors_header(options, "seed"));
}

void image_seeds(const fs::path& out) {
  Image8 rgb(8, 6, 3);
  for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = static_cast<uint8_t>(i * 37);
  for (const char* extension : {".png", ".jpg", ".bmp"})
    write_bytes_atomic(out / (std::string("rgb") + extension), encode_image(rgb, extension, 90));
  Image16 depth(7, 5);
  for (size_t i = 0; i < depth.pixels.size(); ++i) depth.pixels[i] = static_cast<uint16_t>(i * 1021);
  write_bytes_atomic(out / "depth16.png", encode_png16(depth));
}

void text_seeds(const fs::path& calib, const fs::path& config, const fs::path& lists) {
  write_bytes_atomic(calib / "values.txt", "721.5377,721.5377,609.5593,172.854");
  write_bytes_atomic(calib / "calib_cam_to_cam.txt",
                     "calib_time: 09-Jan-2012 13:57:47\n"
                     "P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 "
                     "0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 "
                     "0.000000e+00 1.000000e+00 2.745884e-03\n");
  write_bytes_atomic(calib / "camera.json",
                     R"({"fx": 721.5, "fy": 721.5, "cx": 609.6, "cy": 172.9, "width": 1242, "height": 375})");
  write_bytes_atomic(config / "config.json", train_config_to_json(TrainConfig{}).dump(1));
  write_bytes_atomic(lists / "train.txt",
                     "/2011_09_26/image_02/0000000005.png /train/proj_depth/0000000005.png 721.5377\n"
                     "/a.png /b.png\n");
}

void video_seeds(const fs::path& out) {
  if (!video_supported()) return;
  VideoWriter writer(out / "clip.mp4", 16, 12);
  Image8 frame(16, 12, 3);
  for (int k = 0; k < 3; ++k) {
    for (size_t i = 0; i < frame.pixels.size(); ++i) frame.pixels[i] = static_cast<uint8_t>(i + 40 * k);
    writer.write(frame, k * 0.1);
  }
  writer.finish();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT\n";
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* target : {"pytorch_file_fuzz", "safetensors_fuzz", "weights_fuzz", "image_fuzz",
                             "calib_fuzz", "config_fuzz", "list_fuzz", "video_fuzz"})
    fs::create_directories(out / target);
  pytorch_seeds(out / "pytorch_file_fuzz");
  write_safetensors(out / "safetensors_fuzz" / "small.safetensors", small_state(),
                    {{"format", "pt"}, {"encoder", "b0"}});
  checkpoint_seeds(out / "weights_fuzz");
  image_seeds(out / "image_fuzz");
  text_seeds(out / "calib_fuzz", out / "config_fuzz", out / "list_fuzz");
  video_seeds(out / "video_fuzz");
  std::cout << "seeds written to " << out.string() << "\n";
  return 0;
}
