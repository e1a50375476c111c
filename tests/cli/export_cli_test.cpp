// End-to-end: `glpdepth export` writes weights that PyTorch loads strictly into our Python
// reference model (bench/reference/glpdepth_ref.py), and reads back official-style checkpoints.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/onnx_python.h"
#include "common/temp_dir.h"
#include "glpdepth/deploy/onnx_export.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/safetensors.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {

using testing::TempDir;

class ExportCli : public ::testing::Test {
 protected:
  int run(const std::string& args) {
    auto log = dir / "log.txt";
    std::string command =
        std::string(GLPDEPTH_CLI_PATH) + " " + args + " > '" + log.string() + "' 2>&1";
    int status = std::system(command.c_str());
    output = std::filesystem::exists(log) ? read_file_bytes(log) : "";
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  bool have_python_torch() {
    std::string command = std::string("'") + GLPDEPTH_TEST_PYTHON +
                          "' -c 'import torch' > /dev/null 2>&1";
    return std::system(command.c_str()) == 0;
  }
  int python(const std::string& script) {
    auto file = dir / "check.py";
    std::ofstream(file) << "import sys, os, collections\nimport torch\nD = sys.argv[1]\n"
                        << "sys.path.insert(0, os.path.join('" GLPDEPTH_SOURCE_DIR
                           "', 'bench', 'reference'))\n"
                        << script;
    auto log = dir / "python.txt";
    std::string command = std::string("'") + GLPDEPTH_TEST_PYTHON + "' '" + file.string() +
                          "' '" + dir.path().string() + "' > '" + log.string() + "' 2>&1";
    int status = std::system(command.c_str());
    output = read_file_bytes(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  TempDir dir;
  std::string output;
};

TEST_F(ExportCli, UsageErrors) {
  EXPECT_EQ(run("export --output '" + (dir / "x.pt").string() + "'"), 2) << output;
  EXPECT_NE(output.find("--ckpt"), std::string::npos) << output;
  EXPECT_EQ(run("export --random_weights --encoder b0 --format tflite --output x"), 2) << output;
  EXPECT_EQ(run("export --ckpt '" + (dir / "missing.ckpt").string() + "' --output '" +
                (dir / "x.pt").string() + "'"),
            1)
      << output;
  EXPECT_NE(output.find("missing.ckpt"), std::string::npos) << output;
}

TEST_F(ExportCli, FreshWeightsLoadStrictlyInPyTorchAndComeBack) {
  auto fresh = dir / "fresh.pt";
  ASSERT_EQ(run("export --random_weights --encoder b0 --module_prefix --seed 5 --output '" + fresh.string() + "'"),
            0)
      << output;
  StateDict ours = read_state_dict(fresh);
  ASSERT_FALSE(ours.empty());
  EXPECT_EQ(ours.front().first, "module.encoder.patch_embed1.proj.weight");
  EXPECT_EQ(ours.back().first, "module.last_layer_depth.2.bias");

  // Same seed, same weights; safetensors holds the same tensors without the prefix.
  auto st = dir / "fresh.safetensors";
  ASSERT_EQ(run("export --random_weights --encoder b0 --seed 5 --format safetensors --output '" + st.string() + "'"),
            0)
      << output;
  StateDict st_state = read_safetensors(st);
  ASSERT_EQ(st_state.size(), ours.size());
  for (size_t k = 0; k < ours.size(); ++k) {
    EXPECT_EQ("module." + st_state[k].first, ours[k].first);
    EXPECT_TRUE(torch::equal(st_state[k].second, ours[k].second)) << ours[k].first;
  }

  if (!have_python_torch()) GTEST_SKIP() << "no Python with torch: PyTorch side not checked";
  // The official test script's loading path: strip 'module.' by the first key, strict load.
  ASSERT_EQ(python(R"(
from glpdepth_ref import GLPDepth
sd = torch.load(os.path.join(D, 'fresh.pt'))
keys = list(sd)
assert 'module' in keys[0]
sd = collections.OrderedDict((k[7:], v) for k, v in sd.items())
m = GLPDepth('b0')
m.load_state_dict(sd, strict=True)
assert list(sd) == list(m.state_dict()), 'order differs from the reference state_dict'
nbt = sd['decoder.fusion1.conv1.1.num_batches_tracked']
assert nbt.dtype == torch.int64 and nbt.dim() == 0
# The layout of the official checkpoints, in the legacy serialisation, for the way back.
torch.save(collections.OrderedDict(('module.' + k, v * 2 if v.is_floating_point() else v)
           for k, v in sd.items()), os.path.join(D, 'official.ckpt'),
           _use_new_zipfile_serialization=False)
)"),
            0)
      << output;
  auto back = dir / "back.safetensors";
  ASSERT_EQ(run("export --ckpt '" + (dir / "official.ckpt").string() +
                "' --format safetensors --output '" + back.string() + "'"),
            0)
      << output;
  StateDict doubled = read_safetensors(back);
  ASSERT_EQ(doubled.size(), ours.size());
  for (size_t k = 0; k < ours.size(); ++k) {
    const torch::Tensor& t = ours[k].second;
    torch::Tensor expected = t.is_floating_point() ? t * 2 : t;
    EXPECT_TRUE(torch::equal(doubled[k].second, expected)) << ours[k].first;
  }
}

TEST_F(ExportCli, OnnxBadRequestsAreUsageErrorsNamingTheFlagAndWriteNothing) {
  const auto onnx = dir / "model.onnx";
  const std::string base = "export --random_weights --encoder b0 --format onnx --output '" + onnx.string() + "' ";
  for (const std::string shape : {"1x352x700", "banana", "1x352", "0x352x704"}) {
    EXPECT_EQ(run(base + "--onnx_shape " + shape), 2) << shape << ": " << output;
    EXPECT_NE(output.find("--onnx_shape"), std::string::npos) << output;
    EXPECT_NE(output.find(shape), std::string::npos) << output;
  }
  EXPECT_EQ(run("export --random_weights --encoder b0 --onnx_fp16_weights --output '" + (dir / "x.pt").string() + "'"), 2)
      << output;
  EXPECT_NE(output.find("--onnx_fp16_weights"), std::string::npos) << output;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1)  // log.txt only
      << "something was written";
}

// The issue's acceptance check end to end: a weights file exported as ONNX runs in ONNX Runtime
// and gives what `glpdepth predict` gives on the same weights and image.
TEST_F(ExportCli, OnnxFromAWeightsFileMatchesPredict) {
  if (!onnx_export_available())
    GTEST_SKIP() << "built without ONNX export (libonnx-dev, libprotobuf-dev missing)";
  const auto weights = dir / "weights.safetensors";
  ASSERT_EQ(run("export --random_weights --encoder b0 --seed 9 --format safetensors --output '" + weights.string() + "'"), 0)
      << output;
  const auto onnx = dir / "model.onnx";
  ASSERT_EQ(run("export --ckpt '" + weights.string() + "' --format onnx --output '" + onnx.string() + "'"), 0)
      << output;
  EXPECT_NE(output.find("ONNX opset 17"), std::string::npos) << output;

  // A 96x160 colour image with structure (gradients and a block) rather than noise only.
  Image8 image(160, 96, 3);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      uint8_t* p = image.at(x, y);
      const bool block = x > 40 && x < 90 && y > 30 && y < 70;
      p[0] = static_cast<uint8_t>(block ? 220 : x * 255 / image.width);
      p[1] = static_cast<uint8_t>(y * 255 / image.height);
      p[2] = static_cast<uint8_t>((x * 7 + y * 13) % 256);
    }
  const auto png = dir / "scene.png";
  write_image(png, image);
  ASSERT_EQ(run("predict '" + png.string() + "' --ckpt '" + weights.string() + "' --save_npy --output '" +
                (dir / "predicted").string() + "'"),
            0)
      << output;
  const torch::Tensor predicted = read_npy(dir / "predicted" / "scene_depth.npy");

  GLPDEPTH_REQUIRE_ONNXRUNTIME();
  // The ONNX input convention, from the pixels themselves: RGB, NCHW, value / 255.
  const torch::Tensor input =
      torch::from_blob(image.pixels.data(), {1, image.height, image.width, 3}, torch::kUInt8)
          .permute({0, 3, 1, 2})
          .to(torch::kFloat32)
          .div(255.0f)
          .contiguous();
  write_npy(dir / "input.npy", input);
  testing::run_onnxruntime(onnx.string(), {{(dir / "input.npy").string(), (dir / "onnx.npy").string()}});
  ASSERT_FALSE(HasFailure());
  const torch::Tensor from_onnx = read_npy(dir / "onnx.npy");
  ASSERT_EQ(from_onnx.sizes(), (std::vector<int64_t>{1, 1, 96, 160}));
  const auto a = from_onnx.reshape({96, 160}).to(torch::kFloat64), b = predicted.to(torch::kFloat64);
  const double error = ((a - b).norm() / b.norm()).item<double>();
  std::cout << "ONNX Runtime vs glpdepth predict: relative L2 error " << error << "\n";
  EXPECT_LT(error, 1e-5);
  testing::check_onnx_models({onnx.string()});
}

}  // namespace
}  // namespace glpdepth
