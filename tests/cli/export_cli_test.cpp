// End-to-end: `glpdepth export` writes weights that PyTorch loads strictly into our Python
// reference model (bench/reference/glpdepth_ref.py), and reads back official-style checkpoints.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/temp_dir.h"
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
  EXPECT_EQ(run("export --encoder b0 --format tflite --output x"), 2) << output;
  EXPECT_EQ(run("export --ckpt '" + (dir / "missing.ckpt").string() + "' --output '" +
                (dir / "x.pt").string() + "'"),
            1)
      << output;
  EXPECT_NE(output.find("missing.ckpt"), std::string::npos) << output;
}

TEST_F(ExportCli, FreshWeightsLoadStrictlyInPyTorchAndComeBack) {
  auto fresh = dir / "fresh.pt";
  ASSERT_EQ(run("export --encoder b0 --module_prefix --seed 5 --output '" + fresh.string() + "'"),
            0)
      << output;
  StateDict ours = read_state_dict(fresh);
  ASSERT_FALSE(ours.empty());
  EXPECT_EQ(ours.front().first, "module.encoder.patch_embed1.proj.weight");
  EXPECT_EQ(ours.back().first, "module.last_layer_depth.2.bias");

  // Same seed, same weights; safetensors holds the same tensors without the prefix.
  auto st = dir / "fresh.safetensors";
  ASSERT_EQ(run("export --encoder b0 --seed 5 --format safetensors --output '" + st.string() + "'"),
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

}  // namespace
}  // namespace glpdepth
