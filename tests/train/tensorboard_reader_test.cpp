// TensorBoard's own reader (PyPI tensorboard in the project's test venv, scripts/make-venv.sh)
// reads back every scalar, image, text and hyperparameter summary we write, both from the
// writer directly and from a real training run's folder. Skipped with the reason when the venv
// has no tensorboard.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/train/log.h"
#include "glpdepth/train/trainer.h"
#include "train_test_util.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

const char* kReader = R"PY(
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
       "images": {t: [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(t)]
                  for t in tags["images"]},
       "texts": {}, "hparams": sorted(acc.PluginTagToContent("hparams").keys())}
for tag, content in acc.PluginTagToContent("text").items():
    out["texts"][tag] = [[e.step, e.tensor_proto.string_val[0].decode()] for e in acc.Tensors(tag)]
print(json.dumps(out))
)PY";

bool venv_has_tensorboard() {
  const std::string python = GLPDEPTH_TEST_VENV_PYTHON;
  return fs::exists(python) &&
         std::system(("'" + python + "' -c 'import tensorboard' > /dev/null 2>&1").c_str()) == 0;
}

nlohmann::json read_with_tensorboard(const fs::path& dir, const fs::path& scratch) {
  const fs::path script = scratch / "read_events.py", out = scratch / "events.json";
  test::write_text(script, kReader);
  const std::string command = "'" + std::string(GLPDEPTH_TEST_VENV_PYTHON) + "' '" +
                              script.string() + "' '" + dir.string() + "' > '" + out.string() +
                              "' 2> '" + (scratch / "events.err").string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << test::read_text(scratch / "events.err");
  return nlohmann::json::parse(test::read_text(out));
}

#define REQUIRE_TENSORBOARD()                                                                  \
  do {                                                                                         \
    if (!venv_has_tensorboard())                                                               \
      GTEST_SKIP() << "no tensorboard in " GLPDEPTH_TEST_VENV_PYTHON " (scripts/make-venv.sh)"; \
  } while (0)

TEST(TensorBoardReader, ReadsEveryKindOfSummaryWeWrite) {
  REQUIRE_TENSORBOARD();
  testing::TempDir dir;
  {
    TensorBoardWriter writer(dir.path() / "run");
    writer.add_scalar("train/loss", 0.5, 10);
    writer.add_scalar("train/loss", 0.25, 20);
    Image8 image(5, 3, 3);
    image.at(4, 2)[0] = 255;
    writer.add_image("val/preview", image, 20);
    writer.add_text("config", "epochs: **3**", 0);
    writer.add_hparams({{"lr", 0.001}, {"encoder", "b0"}, {"flip", true}}, {"hparams/abs_rel"});
    writer.add_scalar("hparams/abs_rel", 0.125, 20);
    writer.end_hparams_session(true);
  }
  const nlohmann::json got = read_with_tensorboard(dir.path() / "run", dir.path());
  EXPECT_EQ(got["scalars"]["train/loss"], nlohmann::json::parse("[[10, 0.5], [20, 0.25]]"));
  EXPECT_EQ(got["scalars"]["hparams/abs_rel"][0][1], 0.125);
  ASSERT_EQ(got["images"]["val/preview"].size(), 1u);
  EXPECT_EQ(got["images"]["val/preview"][0][0], 20);
  EXPECT_EQ(got["images"]["val/preview"][0][1], 5);
  EXPECT_EQ(got["images"]["val/preview"][0][2], 3);
  EXPECT_EQ(got["texts"]["config"][0][1], "epochs: **3**");
  EXPECT_EQ(got["hparams"], nlohmann::json::parse(
      R"(["_hparams_/experiment", "_hparams_/session_end_info", "_hparams_/session_start_info"])"));
}

TEST(TensorBoardReader, ATrainingRunLinesValidationUpWithTrainingSteps) {
  REQUIRE_TENSORBOARD();
  torch::set_num_threads(1);
  testing::TempDir dir;
  testing::SynthSet set;
  set.count = 8; set.frames_per_drive = 2; set.val_fraction = 0.25;
  testing::write_synth_set(dir.path() / "data", set);
  TrainConfig config;
  config.data.data_path = (dir.path() / "data").string();
  config.data.workers = 1;
  config.model.model.encoder = MitEncoder::kB0;
  config.model.pretrained = "none";
  config.loop.epochs = 2;
  config.loop.batch_size = 2;
  config.augment.crop_h = 32;
  config.augment.crop_w = 64;
  config.log.log_dir = (dir.path() / "logs").string();
  config.log.log_every = 1;
  std::ostringstream log;
  const TrainResult result = train(config, log);
  const nlohmann::json got = read_with_tensorboard(result.run_dir, dir.path());
  // 3 steps per epoch (6 frames, batch 2): validation at global steps 3 and 6, like train/*.
  std::vector<int> train_steps, val_steps;
  for (const auto& e : got["scalars"]["train/loss"]) train_steps.push_back(e[0]);
  for (const auto& e : got["scalars"]["val/abs_rel"]) val_steps.push_back(e[0]);
  EXPECT_EQ(train_steps, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(val_steps, (std::vector<int>{3, 6}));
  EXPECT_EQ(got["scalars"]["epoch"], nlohmann::json::parse("[[3, 1.0], [6, 2.0]]"));
  ASSERT_EQ(got["images"]["val/preview"].size(), 2u);
  EXPECT_EQ(got["images"]["val/preview"][1][0], 6);
  const std::string config_text = got["texts"]["config"][0][1];
  EXPECT_NE(config_text.find("\"epochs\": 2"), std::string::npos) << config_text;
  EXPECT_EQ(got["hparams"].size(), 3u);
  EXPECT_EQ(got["scalars"]["hparams/abs_rel"][0][1].get<double>(),
            static_cast<float>(result.val_abs_rel.back()));
}

}  // namespace
}  // namespace glpdepth
