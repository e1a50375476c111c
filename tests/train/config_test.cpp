// Training configuration: recipes as defaults under explicit flags, symmetric JSON, validation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "glpdepth/train/config.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

TEST(Recipes, DemoIsTheMeasuredRecipe) {
  // docs/PERFORMANCE.md "Learning" measured these; a change here needs new figures there.
  TrainConfig d;
  apply_recipe(d, parse_recipe("demo"));
  EXPECT_EQ(d.model.model.encoder, MitEncoder::kB0);
  EXPECT_EQ(d.model.pretrained, "none");
  EXPECT_EQ(d.model.drop_path_rate, 0.0);
  EXPECT_EQ(d.augment.crop_h, 94);
  EXPECT_EQ(d.augment.crop_w, 256);
  EXPECT_EQ(d.augment.cutdepth_p + d.augment.hsv_p + d.augment.gamma_p +
                d.augment.brightness_contrast_p,
            0.0);
  EXPECT_EQ(d.optim.kind, OptimizerKind::kAdamW);
  EXPECT_EQ(d.optim.lr, 1e-3);
  EXPECT_EQ(d.schedule.kind, ScheduleKind::kCosine);
  EXPECT_EQ(d.schedule.cosine.warmup_steps, 100);
  EXPECT_EQ(d.loop.batch_size, 4);
  EXPECT_EQ(d.loop.epochs, 8);
  EXPECT_EQ(d.validation.val_freq, 4);
  EXPECT_THROW(apply_recipe(d, parse_recipe("demo2")), UsageError);
}

TEST(Recipes, PresetsMatchTheSeed) {
  EXPECT_EQ(recipe_names().size(), 6u);
  TrainConfig a;
  a.optim.lr = 1.5e-4;
  apply_recipe(a, parse_recipe("plateau"));
  EXPECT_EQ(a.optim.kind, OptimizerKind::kAdam);
  EXPECT_EQ(a.optim.lr, 1.5e-4);  // the plateau recipes train with --lr
  EXPECT_EQ(a.optim.weight_decay, 0.0);
  EXPECT_EQ(a.schedule.kind, ScheduleKind::kPlateau);
  EXPECT_EQ(a.schedule.plateau.factor, 0.5);
  EXPECT_EQ(a.schedule.plateau.patience, 10);
  EXPECT_EQ(a.schedule.plateau.threshold, 3e-4);
  EXPECT_EQ(a.schedule.plateau.threshold_mode, ThresholdMode::kAbs);
  EXPECT_EQ(a.schedule.plateau.steps_per_epoch, 30);
  EXPECT_EQ(a.loop.clip_grad, 1.0);
  EXPECT_EQ(a.loop.batch_size, 32);
  TrainConfig l2;
  apply_recipe(l2, parse_recipe("plateau-l2"));
  EXPECT_EQ(l2.optim.weight_decay, 5e-5);
  TrainConfig c;
  apply_recipe(c, parse_recipe("cyclic"));
  EXPECT_EQ(c.optim.kind, OptimizerKind::kSGD);
  EXPECT_EQ(c.optim.momentum, 0.9);
  EXPECT_EQ(c.schedule.kind, ScheduleKind::kCyclic);
  EXPECT_EQ(c.schedule.cyclic.mode, CyclicMode::kTriangular2);
  EXPECT_EQ(c.schedule.cyclic.step_size_up, 2500);
  EXPECT_EQ(c.schedule.cyclic.base_lr, 0.005);
  EXPECT_EQ(c.schedule.cyclic.max_lr, 0.05);
  EXPECT_EQ(c.loop.clip_grad, 1.0);
  EXPECT_EQ(c.loop.batch_size, 32);
  TrainConfig g;
  apply_recipe(g, parse_recipe("GLP"));
  EXPECT_EQ(g.loop.recipe, Recipe::kGlp);
  EXPECT_EQ(g.schedule.kind, ScheduleKind::kPoly);
  EXPECT_EQ(g.loop.clip_grad, 0.0);
  EXPECT_EQ(g.loop.batch_size, 12);
  TrainConfig bad;
  EXPECT_THROW(apply_recipe(bad, parse_recipe("adam")), UsageError);
}

TEST(Recipes, EachDatasetHasADefault) {
  EXPECT_EQ(default_recipe(parse_dataset("DrivingStereo")), Recipe::kCyclic);
  EXPECT_EQ(default_recipe(DatasetKind::kKitti), Recipe::kGlp);
  EXPECT_EQ(default_recipe(parse_dataset("nyu")), Recipe::kGlp);
}

TEST(Recipes, FlagsTheScheduleDoesNotReadAreNamed) {
  TrainConfig cyclic;
  apply_recipe(cyclic, parse_recipe("cyclic"));
  auto notes = unused_by_schedule(cyclic, {"lr", "momentum", "poly_max_lr", "epochs"});
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_NE(notes[0].find("--lr"), std::string::npos);
  EXPECT_NE(notes[0].find("--cyclic_base_lr 0.005"), std::string::npos) << notes[0];
  EXPECT_NE(notes[1].find("--poly_max_lr"), std::string::npos) << notes[1];
  EXPECT_NE(notes[2].find("--cyclic_max_momentum"), std::string::npos) << notes[2];
  TrainConfig plateau;
  apply_recipe(plateau, parse_recipe("plateau"));
  EXPECT_TRUE(unused_by_schedule(plateau, {"lr", "plateau_patience"}).empty());
  auto adam = unused_by_schedule(plateau, {"nesterov"});
  ASSERT_EQ(adam.size(), 1u);
  EXPECT_NE(adam[0].find("SGD only"), std::string::npos);
}

TEST(TrainConfigJson, RoundTripsEveryField) {
  TrainConfig c;
  apply_recipe(c, parse_recipe("cyclic"));
  c.data.dataset = DatasetKind::kDrivingStereo;
  c.data.data_path = "/data";
  c.data.window = WindowChoice::kOff;
  c.augment.flip_p = 0.25;
  c.model.model.encoder = MitEncoder::kB2;
  c.model.model.canonical_focal = 700;
  c.optim.nesterov = true;
  c.schedule.cyclic.step_size_down = 77;
  c.validation.eval.kitti_crop = EvalCrop::kGarg;
  c.validation.eval.protocol = KittiProtocol::kFullFrame;
  c.checkpoint.save_every_steps = 100;
  c.runtime.precision = Precision::kBFloat16;
  c.runtime.seed = 123456789012345ull;
  c.dist.sync_bn = true;
  const nlohmann::json j = train_config_to_json(c);
  const TrainConfig back = train_config_from_json(j);
  EXPECT_EQ(train_config_to_json(back), j);
  EXPECT_EQ(j["runtime"]["precision"], "bf16");
  EXPECT_EQ(j["data"]["window"], "off");
  EXPECT_EQ(j["optim"]["kind"], "sgd");
  EXPECT_EQ(back.runtime.seed, 123456789012345ull);
}

TEST(TrainConfigJson, PartialFilesKeepDefaultsAndTyposAreErrors) {
  const TrainConfig c = train_config_from_json(nlohmann::json::parse(R"({"loop": {"epochs": 3}})"));
  EXPECT_EQ(c.loop.epochs, 3);
  EXPECT_EQ(c.loop.batch_size, TrainConfig{}.loop.batch_size);
  try {
    train_config_from_json(nlohmann::json::parse(R"({"loop": {"epoch": 3}})"));
    FAIL() << "a misspelt key was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loop.epoch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("epochs"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_config_from_json(nlohmann::json::parse(R"({"optim": {"kind": "adagrad"}})")),
               Error);
}

// Numbers the options cannot hold name their key (the fuzzer found 2e300 for a whole-number
// option cast to int64, undefined behaviour, before this check; the input is kept in
// fuzz/regressions/config_fuzz).
TEST(TrainConfigJson, NumbersTheOptionsCannotHoldNameTheirKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"schedule": {"cyclic": {"step_size_up": 2e300}}})", "schedule.cyclic.step_size_up"},
      {R"({"loop": {"epochs": 2.5}})", "loop.epochs\" must be a whole number"},
      {R"({"loop": {"epochs": 10000000000}})", "loop.epochs\": 10000000000 is out of range"},
      {R"({"runtime": {"seed": -1}})", "runtime.seed\": -1 is out of range"},
      {R"({"augment": {"cutdepth_max_depth": 1e39}})", "augment.cutdepth_max_depth\": 1e+39"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      train_config_from_json(nlohmann::json::parse(text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
  const std::string found = read_file_bytes(std::filesystem::path(GLPDEPTH_SOURCE_DIR) / "fuzz" /
                                            "regressions" / "config_fuzz" /
                                            "float-for-a-whole-number.json");
  EXPECT_THROW(train_config_from_json(nlohmann::json::parse(found)), Error);
  // Whole numbers written as such still read, and large doubles for double options too.
  EXPECT_EQ(train_config_from_json(nlohmann::json::parse(R"({"loop": {"epochs": 7}})")).loop.epochs,
            7);
  EXPECT_DOUBLE_EQ(
      train_config_from_json(nlohmann::json::parse(R"({"optim": {"lr": 0.5}})")).optim.lr, 0.5);
}

TEST(TrainConfigValidate, NamesTheFlag) {
  TrainConfig c;
  c.data.data_path = "/data";
  EXPECT_NO_THROW(validate(c));
  auto message_of = [](TrainConfig bad) {
    try {
      validate(bad);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  TrainConfig e = c;
  e.loop.epochs = 0;
  EXPECT_NE(message_of(e).find("--epochs"), std::string::npos);
  TrainConfig b = c;
  b.loop.batch_size = 0;
  EXPECT_NE(message_of(b).find("--batch_size"), std::string::npos);
  TrainConfig d = c;
  d.data.data_path.clear();
  EXPECT_NE(message_of(d).find("--data_path"), std::string::npos);
  TrainConfig f = c;
  f.model.model.canonical_focal = -1;
  EXPECT_NE(message_of(f).find("--canonical_focal"), std::string::npos);
}

}  // namespace
}  // namespace glpdepth
