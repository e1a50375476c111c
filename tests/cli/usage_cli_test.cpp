// Usage errors of every subcommand, as a table: a bad option, a bad value, a missing required
// input, a missing file. Usage errors exit 2, everything else that fails exits 1; the message
// names the flag or file, and a near miss gets a suggestion.
#include <gtest/gtest.h>

#include "common/run_cli.h"
#include "common/temp_dir.h"

namespace glpdepth {
namespace {

struct Case {
  std::string args;          // after `glpdepth`
  int code;                  // expected exit code
  std::vector<std::string> says;  // each must appear in stderr
};

class UsageTable : public ::testing::Test {
 protected:
  void check(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
      testing::CliRun r = testing::run_glpdepth_split(dir_.path(), c.args);
      EXPECT_EQ(r.code, c.code) << "glpdepth " << c.args << "\n" << r.err;
      for (const std::string& text : c.says)
        EXPECT_NE(r.err.find(text), std::string::npos)
            << "glpdepth " << c.args << ": no \"" << text << "\" in:\n" << r.err;
    }
  }
  std::string missing(const std::string& name) const { return (dir_.path() / name).string(); }
  testing::TempDir dir_;
};

TEST_F(UsageTable, UnknownCommandsAndOptionsGetSuggestions) {
  check({{"trian", 2, {"unknown command 'trian'", "did you mean 'train'?"}},
         {"evalpngs --pred x", 2, {"did you mean 'eval-pngs'?"}},
         {"", 2, {}},
         {"train --epoch 3", 2, {"unknown option --epoch", "did you mean --epochs?"}},
         {"test --ckptt w.pth", 2, {"unknown option --ckptt", "--ckpt"}},
         {"predict x.png --flipp_test", 2, {"--flipp_test", "did you mean --flip_test?"}},
         {"synth --cont 3", 2, {"--cont", "--count"}},
         {"eval-pngs --pred a --gt b --datset kitti", 2, {"did you mean --dataset?"}},
         {"make-lists --val-fractoin 0.2", 2, {"--val-fractoin", "--val-fraction"}},
         {"export --formats onnx", 2, {"did you mean --format?"}},
         {"bench --iter 3", 2, {"did you mean --iters?"}},
         {"launch --nprocs 2 -- info", 2, {"did you mean --nproc?"}},
         {"info --verbose", 2, {"unknown option --verbose"}},
         {"train --zzzzzz 1", 2, {"unknown option --zzzzzz"}}});
}

TEST_F(UsageTable, BadValuesNameTheFlag) {
  check({{"train --data_path . --amp fp8", 2, {"--amp fp8", "none, fp32, bf16, fp16"}},
         {"train --data_path . --epochs zero", 2, {"--epochs"}},
         {"train --data_path . --epochs 0", 2, {"--epochs", "must be in [1, 1000000], got 0"}},
         {"train --data_path . --recipe adam", 2, {"--recipe adam"}},
         {"train --data_path . --optimizer adagrad", 2, {"--optimizer adagrad"}},
         {"train --data_path . --window sometimes", 2, {"--window sometimes"}},
         {"train --data_path . --do_kb_crop 0", 2, {"--do_kb_crop 0", "--protocol full-frame"}},
         {"train --data_path . --do_kb_crop 2", 2, {"--do_kb_crop 2: must be in [0, 1]"}},
         {"train --data_path . --gpu_or_cpu tpu", 2, {"--gpu_or_cpu tpu"}},
         {"test --data_path . --kitti_crop gargle --random_weights", 2, {"--kitti_crop gargle"}},
         {"test --data_path . --protocol none --random_weights", 2, {"--protocol none"}},
         {"predict x.png --random_weights --colormap rainbowish", 2, {"--colormap rainbowish"}},
         {"predict x.png --random_weights --batch_size -1", 2, {"--batch_size"}},
         {"synth --output o --jpeg_quality 101", 2, {"--jpeg_quality"}},
         {"eval-pngs --pred a --gt b --split kitti_eigen", 2, {"--split kitti_eigen", "eigen_benchmark"}},
         {"export --random_weights --output x.onnx --format onnx --onnx_shape 1x3x33", 2, {"--onnx_shape"}},
         {"bench --random_weights --mode sprint", 2, {"--mode sprint"}},
         {"launch --nproc 0 -- info", 2, {"--nproc"}},
         {"info --threads -3", 2, {"--threads", "must be in [0, 4096], got -3"}},
         {"info --device tpu", 2, {"--device tpu"}}});
}

TEST_F(UsageTable, MissingRequiredInputsSayWhatIsNeeded) {
  check({{"train", 2, {"--data_path"}},
         {"test --random_weights", 2, {"--data_path"}},
         {"test --data_path .", 2, {"--ckpt", "--random_weights"}},
         {"predict --random_weights", 2, {"no inputs"}},
         {"predict x.png", 2, {"--ckpt", "--random_weights"}},
         {"eval-pngs --gt g", 2, {"--pred"}},
         {"synth --count 2", 2, {"--output"}},
         {"make-lists --dataset kitti", 2, {"--data_path"}},
         {"export --random_weights --encoder b0", 2, {"--output"}},
         {"export --output x.pth", 2, {"--ckpt", "--random_weights"}},
         {"bench", 2, {"--ckpt", "--random_weights"}},
         {"launch --nproc 2", 2, {"after --"}}});
}

TEST_F(UsageTable, MissingFilesAreNamed) {
  const std::string absent = missing("absent");
  check({{"train --data_path " + absent, 1, {absent}},
         {"train --config " + absent + ".json", 2, {absent + ".json"}},
         {"test --data_path " + absent + " --random_weights", 1, {absent}},
         {"test --data_path . --ckpt " + absent + ".ckpt", 1, {absent + ".ckpt"}},
         {"predict " + absent + ".png --random_weights --encoder b0", 1, {absent + ".png"}},
         {"predict " + absent + ".png --ckpt " + absent + ".pth", 1, {absent}},
         {"eval-pngs --pred " + absent + " --gt " + absent, 1, {absent}},
         {"make-lists --data_path " + absent, 1, {absent}},
         {"export --ckpt " + absent + ".ckpt --output x.pth", 1, {absent + ".ckpt"}},
         {"bench --ckpt " + absent + ".ckpt", 1, {absent + ".ckpt"}}});
}

TEST_F(UsageTable, OutputsThatCannotBeMadeNameTheFlag) {
  write_bytes_atomic(dir_.path() / "file", "x");
  const std::string blocked = (dir_.path() / "file" / "logs").string();
  check({{"train --data_path " + missing("absent") + " --output " + blocked, 1,
          {"error: --output " + blocked, "is a file"}},
         {"synth --count 1 --output " + blocked, 1, {"--output", blocked}}});
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "logs"));
}

TEST_F(UsageTable, InputsThatAreNeitherImagesNorListsAreErrors) {
  write_bytes_atomic(dir_.path() / "weights.bin", "\x01\x02\x03");
  check({{"predict " + (dir_.path() / "weights.bin").string() + " --random_weights --encoder b0", 1,
          {"weights.bin", "neither an image"}}});
}

}  // namespace
}  // namespace glpdepth
