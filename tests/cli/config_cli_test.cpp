// What runs is what the user asked for: explicit flags win over recipes, config.json records
// what ran, and `train --config RUN/config.json` reproduces the run exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

class ConfigCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto [code, output] = testing::run_glpdepth(
        "synth --output " + data() + " --count 8 --scale 0.1 --seed 2 --frames_per_drive 2"
        " --val_fraction 0.25 --test_fraction 0 --workers 1");
    ASSERT_EQ(code, 0) << output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return (dir_->path() / "data").string(); }
  static fs::path logs() { return dir_->path() / "logs"; }
  // A tiny run; `extra` comes last, so it can change anything.
  static testing::CliRun train(const std::string& name, const std::string& extra) {
    return testing::run_glpdepth_split(
        dir_->path(), "train --data_path " + data() + " --encoder b0 --pretrained none"
                      " --epochs 2 --max_steps_per_epoch 2 --batch_size 2 --crop_h 32 --crop_w 64"
                      " --workers 1 --threads 1 --log_every 1 --seed 4 --output " +
                      logs().string() + " --exp_name " + name + " " + extra);
  }
  static nlohmann::json config_of(const std::string& name) {
    return nlohmann::json::parse(read_file_bytes(logs() / "kitti" / name / "config.json"));
  }
  // train.csv's lr column, one value per step.
  static std::vector<double> lrs_of(const std::string& name) {
    std::istringstream csv(read_file_bytes(logs() / "kitti" / name / "train.csv"));
    std::string line;
    std::getline(csv, line);
    std::vector<double> lrs;
    while (std::getline(csv, line)) {
      std::istringstream fields(line);
      std::string field;
      for (int i = 0; i < 4 && std::getline(fields, field, ','); ++i) {}
      lrs.push_back(std::stod(field));
    }
    return lrs;
  }
  static StateDict weights_of(const fs::path& run) {
    return state_dict_from_value(read_pytorch_file(run / "last.ckpt").at("model"), "last.ckpt");
  }
  static testing::TempDir* dir_;
};
testing::TempDir* ConfigCli::dir_ = nullptr;

TEST_F(ConfigCli, ExplicitFlagsWinOverTheRecipeAndConfigJsonRecordsWhatRan) {
  testing::CliRun r = train("cyclic-mine", "--recipe cyclic --optimizer adam --clip_grad 0.5"
                                           " --cyclic_max_lr 0.01 --cyclic_step_size_up 2"
                                           " --weight_decay 0.0001");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json c = config_of("cyclic-mine");
  EXPECT_EQ(c["loop"]["recipe"], "cyclic");
  EXPECT_EQ(c["optim"]["kind"], "adam");
  EXPECT_EQ(c["loop"]["clip_grad"], 0.5);
  EXPECT_EQ(c["optim"]["weight_decay"], 0.0001);
  EXPECT_EQ(c["schedule"]["kind"], "cyclic");
  EXPECT_EQ(c["schedule"]["cyclic"]["max_lr"], 0.01);
  EXPECT_EQ(c["loop"]["batch_size"], 2);  // the recipe's 32 lost to --batch_size
  // The lr that ran: CyclicLR triangular2 from 0.005 to the flag's 0.01 and back, 2 steps up.
  const std::vector<double> lr = lrs_of("cyclic-mine");
  ASSERT_EQ(lr.size(), 4u);
  const std::vector<double> expected = {0.005, 0.0075, 0.01, 0.0075};
  for (size_t i = 0; i < lr.size(); ++i) EXPECT_NEAR(lr[i], expected[i], 1e-12) << "step " << i + 1;
  // The explicit optimiser changed what the weights became.
  ASSERT_EQ(train("cyclic-sgd", "--recipe cyclic --clip_grad 0.5 --cyclic_max_lr 0.01"
                                " --cyclic_step_size_up 2 --weight_decay 0.0001").code, 0);
  EXPECT_EQ(config_of("cyclic-sgd")["optim"]["kind"], "sgd");
  const StateDict adam = weights_of(logs() / "kitti" / "cyclic-mine");
  const StateDict sgd = weights_of(logs() / "kitti" / "cyclic-sgd");
  EXPECT_FALSE(torch::equal(adam.front().second, sgd.front().second));
}

TEST_F(ConfigCli, FlagsTheScheduleIgnoresAreNamedWithWhatGovernsInstead) {
  testing::CliRun poly = train("poly-lr", "--lr 0.00015");
  ASSERT_EQ(poly.code, 0) << poly.err;
  EXPECT_NE(poly.err.find("warning: --lr 0.00015 is not used by the poly schedule"), std::string::npos)
      << poly.err;
  EXPECT_NE(poly.err.find("--poly_min_lr"), std::string::npos) << poly.err;
  testing::CliRun constant = train("constant-lr", "--schedule constant --lr 0.00015");
  ASSERT_EQ(constant.code, 0) << constant.err;
  EXPECT_EQ(constant.err.find("warning: --lr"), std::string::npos) << constant.err;
  for (double lr : lrs_of("constant-lr")) EXPECT_DOUBLE_EQ(lr, 0.00015);
  EXPECT_EQ(config_of("constant-lr")["optim"]["lr"], 0.00015);
}

TEST_F(ConfigCli, TrainingWithoutPretrainedWeightsSaysSo) {
  testing::CliRun r = testing::run_glpdepth_split(
      dir_->path(), "train --data_path " + data() + " --encoder b0 --epochs 1"
                    " --max_steps_per_epoch 1 --batch_size 2 --crop_h 32 --crop_w 64 --val_freq 0"
                    " --workers 1 --threads 1 --output " + logs().string() + " --exp_name scratch");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: no --pretrained"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--pretrained none"), std::string::npos) << r.err;
}

TEST_F(ConfigCli, ARunsConfigJsonReproducesItInANewFolder) {
  ASSERT_EQ(train("original", "--schedule cosine --warmup_steps 1 --lr 0.001 --flip_p 0.7").code, 0);
  const fs::path original = logs() / "kitti" / "original";
  // The thread count that ran is recorded, and a replay without --threads uses it (the default
  // would be one per core, whose different reduction order changes the last bits).
  EXPECT_EQ(config_of("original")["runtime"]["threads"], 1);
  testing::CliRun again = testing::run_glpdepth_split(
      dir_->path(), "train --config " + (original / "config.json").string() + " --output " +
                        (dir_->path() / "again").string());
  ASSERT_EQ(again.code, 0) << again.err;
  const fs::path copy = dir_->path() / "again" / "kitti" / "original";
  EXPECT_EQ(read_file_bytes(original / "train.csv").size() > 0, true);
  // Identical step losses (train.csv columns but the timing one) and weights.
  auto losses = [](const fs::path& run) {
    std::istringstream csv(read_file_bytes(run / "train.csv"));
    std::string line;
    std::vector<std::string> out;
    while (std::getline(csv, line)) out.push_back(line.substr(0, line.find(',', line.find(',', line.find(',') + 1) + 1)));
    return out;
  };
  EXPECT_EQ(losses(original), losses(copy));
  const StateDict a = weights_of(original), b = weights_of(copy);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  nlohmann::json first = config_of("original"), second = nlohmann::json::parse(read_file_bytes(copy / "config.json"));
  first.erase("run");
  second.erase("run");
  second["log"]["log_dir"] = first["log"]["log_dir"];
  EXPECT_EQ(first, second);
}

TEST_F(ConfigCli, ConfigJsonRecordsTheThreadCountThatRanNeverZero) {
  ASSERT_EQ(train("threads", "--threads 0").code, 0);
  EXPECT_GE(config_of("threads")["runtime"]["threads"].get<int>(), 1);
}

TEST_F(ConfigCli, DrivingStereoTrainsTheForksLastRecipeUnlessToldOtherwise) {
  // The recipe decision is visible before any data is read: the warning names the schedule.
  testing::CliRun r = testing::run_glpdepth_split(
      dir_->path(), "train --dataset DrivingStereo --data_path " + (dir_->path() / "none").string() +
                        " --lr 0.0002");
  EXPECT_EQ(r.code, 1) << r.err;  // no such folder
  EXPECT_NE(r.err.find("--lr 0.0002 is not used by the cyclic schedule"), std::string::npos) << r.err;
}

// Lowest first: the defaults, the config file, the recipe, the flags typed.
TEST_F(ConfigCli, ConfigFileThenRecipeThenFlags) {
  ASSERT_EQ(train("layer-base", "--flip_p 0.7 --clip_grad 0.5").code, 0);
  const fs::path base = logs() / "kitti" / "layer-base" / "config.json";
  ASSERT_EQ(config_of("layer-base")["schedule"]["kind"], "poly");
  testing::CliRun r = testing::run_glpdepth_split(
      dir_->path(), "train --config " + base.string() + " --recipe plateau --clip_grad 0.25"
                    " --batch_size 2 --exp_name layered --output " + logs().string());
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json c = config_of("layered");
  EXPECT_EQ(c["augment"]["flip_p"], 0.7);             // the file's, untouched by the recipe
  EXPECT_EQ(c["schedule"]["kind"], "plateau");        // the recipe's, over the file's poly
  EXPECT_EQ(c["schedule"]["plateau"]["threshold_mode"], "abs");
  EXPECT_EQ(c["loop"]["recipe"], "plateau");
  EXPECT_EQ(c["loop"]["clip_grad"], 0.25);            // the flag's, over the recipe's 1.0
  EXPECT_EQ(c["loop"]["batch_size"], 2);              // the flag's, over the recipe's 32
  EXPECT_EQ(c["run"]["command_line"].get<std::string>().rfind("glpdepth train --config ", 0), 0u);
}

// A flat file is flags written down: over the recipe it names, under the flags typed.
TEST_F(ConfigCli, AFlatTrainConfigIsFlagsWrittenDown) {
  const fs::path flat = dir_->path() / "flat-train.json";
  write_bytes_atomic(flat, R"({"recipe": "plateau", "clip_grad": 0.3, "flip_p": 0.6, "max_nonfinite": 7})");
  ASSERT_EQ(train("flat", "--config " + flat.string() + " --clip_grad 0.2").code, 0);
  const nlohmann::json c = config_of("flat");
  EXPECT_EQ(c["schedule"]["kind"], "plateau");  // the file's recipe
  EXPECT_EQ(c["augment"]["flip_p"], 0.6);
  EXPECT_EQ(c["loop"]["max_nonfinite"], 7);      // the file's, over the default
  EXPECT_EQ(c["loop"]["clip_grad"], 0.2);        // the flag's, over the file's and the recipe's
  EXPECT_EQ(c["loop"]["batch_size"], 2);         // the flag's, over the recipe's 32
}

// A flat config file ({"option": value}) sets what the command line does not, checked as if typed.
TEST_F(ConfigCli, AFlatConfigFileFillsInWhatTheCommandLineLeavesOut) {
  const fs::path config = dir_->path() / "synth.json";
  write_bytes_atomic(config, R"({"count": 3, "scale": 0.05, "seed": 1, "frames_per_drive": 1,
                                 "val_fraction": 0.34, "test_fraction": 0, "workers": 1})");
  auto frames = [](const fs::path& out) {
    return nlohmann::json::parse(read_file_bytes(out / "camera.json"))["count"].get<int>();
  };
  const fs::path from_file = dir_->path() / "from-file", overridden = dir_->path() / "overridden";
  testing::CliRun r = testing::run_glpdepth_split(
      dir_->path(), "synth --config " + config.string() + " --output " + from_file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(frames(from_file), 3);
  r = testing::run_glpdepth_split(dir_->path(), "synth --count 2 --config " + config.string() +
                                                    " --output " + overridden.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(frames(overridden), 2);  // the flag wins wherever it stands

  const fs::path bad = dir_->path() / "bad.json", typo = dir_->path() / "typo.json";
  write_bytes_atomic(bad, R"({"count": 0})");
  write_bytes_atomic(typo, R"({"cont": 3})");
  r = testing::run_glpdepth_split(dir_->path(), "synth --config " + bad.string() + " --output x");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --config " + bad.string() + ": --count"), std::string::npos) << r.err;
  r = testing::run_glpdepth_split(dir_->path(), "synth --config " + typo.string() + " --output x");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown option --cont; did you mean --count?"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_->path() / "x"));
}

}  // namespace
}  // namespace glpdepth
