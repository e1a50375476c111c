// End-to-end: `glpdepth synth` writes a dataset that decodes and matches its lists.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "glpdepth/io/image.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

class SynthCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           ("glpdepth_synth_cli_" + std::to_string(rd()) + "_" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs the binary with `args`; returns the exit code and keeps the output in output_.
  int run(const std::string& args) {
    fs::path log = dir_ / "log.txt";
    std::string command =
        std::string(GLPDEPTH_CLI_PATH) + " " + args + " > " + log.string() + " 2>&1";
    int status = std::system(command.c_str());
    output_ = fs::exists(log) ? read_file_bytes(log) : "";
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::vector<std::pair<std::string, std::string>> list(const fs::path& file) {
    std::vector<std::pair<std::string, std::string>> lines;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      auto space = line.find(' ');
      EXPECT_NE(space, std::string::npos);
      lines.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    return lines;
  }
  fs::path dir_;
  std::string output_;
};

TEST_F(SynthCli, KittiDatasetDecodesWithTheRightSizes) {
  fs::path out = dir_ / "kitti";
  ASSERT_EQ(run("synth --out " + out.string() +
                " --count 8 --seed 4 --scale 0.1 --frames-per-drive 2 --val_fraction 0.25"
                " --test_fraction 0.25 --workers 2"),
            0)
      << output_;
  auto train = list(out / "lists" / "train.txt");
  auto val = list(out / "lists" / "val.txt");
  auto test = list(out / "lists" / "test.txt");
  EXPECT_EQ(train.size(), 4u);
  EXPECT_EQ(val.size(), 2u);
  EXPECT_EQ(test.size(), 2u);
  for (const auto* l : {&train, &val, &test}) {
    for (const auto& [image, depth] : *l) {
      EXPECT_EQ(image.rfind("/raw_data/2011_09_26/", 0), 0u) << image;
      EXPECT_EQ(depth.rfind("/data_depth_annotated/", 0), 0u) << depth;
      Image8 rgb = read_image(out / image.substr(1));
      Image16 d = read_png16(out / depth.substr(1));
      EXPECT_EQ(rgb.width, 124);
      EXPECT_EQ(rgb.height, 38);
      EXPECT_EQ(d.width, 124);
      EXPECT_EQ(d.height, 38);
      int valid = 0;
      for (uint16_t v : d.pixels) valid += v != 0 && v <= 80 * 256;
      EXPECT_GT(valid, 124 * 38 / 3);
    }
  }
  EXPECT_TRUE(fs::exists(out / "raw_data" / "2011_09_26" / "calib_cam_to_cam.txt"));
  auto camera = nlohmann::json::parse(read_file_bytes(out / "camera.json"));
  EXPECT_EQ(camera["width"].get<int>(), 124);
  EXPECT_NEAR(camera["fx"].get<double>(), 721.5377 * 124 / 1242, 1e-6);
  EXPECT_EQ(camera["seed"].get<int>(), 4);
  EXPECT_NE(output_.find("frames/s"), std::string::npos) << output_;

  // Same flags again: identical files (deterministic given the seed, any worker count).
  fs::path again = dir_ / "again";
  ASSERT_EQ(run("synth --out " + again.string() +
                " --count 8 --seed 4 --scale 0.1 --frames_per_drive 2 --val-fraction 0.25"
                " --test-fraction 0.25 --workers 1"),
            0)
      << output_;
  EXPECT_EQ(read_file_bytes(out / train[3].second.substr(1)),
            read_file_bytes(again / train[3].second.substr(1)));
  EXPECT_EQ(read_file_bytes(out / train[3].first.substr(1)),
            read_file_bytes(again / train[3].first.substr(1)));
}

TEST_F(SynthCli, DrivingStereoAndCustomCameras) {
  fs::path out = dir_ / "ds";
  ASSERT_EQ(run("synth --out " + out.string() +
                " --count 4 --camera drivingstereo --scale 0.1 --sparse --frames_per_drive 1"),
            0)
      << output_;
  auto train = list(out / "lists" / "train.txt");
  auto test = list(out / "lists" / "test.txt");
  ASSERT_FALSE(train.empty());
  ASSERT_FALSE(test.empty());
  EXPECT_EQ(train[0].first.rfind("/train-left-image/", 0), 0u);
  EXPECT_EQ(test[0].first.rfind("/test-left-image/left-image-half-size/", 0), 0u);
  EXPECT_EQ(test[0].second.rfind("/test-depth-map/depth-map-half-size/", 0), 0u);
  Image8 rgb = read_image(out / test[0].first.substr(1));
  EXPECT_EQ(rgb.width, 88);
  EXPECT_EQ(rgb.height, 40);
  EXPECT_EQ(read_png16(out / test[0].second.substr(1)).width, 88);
  auto camera = nlohmann::json::parse(read_file_bytes(out / "camera.json"));
  EXPECT_TRUE(camera["sparse"].get<bool>());
  EXPECT_EQ(camera["layout"].get<std::string>(), "drivingstereo");

  fs::path custom = dir_ / "custom";
  ASSERT_EQ(run("synth --out " + custom.string() + " --count 2 --camera 200,200,63.5,31.5,128,64"),
            0)
      << output_;
  auto lines = list(custom / "lists" / "train.txt");
  ASSERT_FALSE(lines.empty());
  Image8 c = read_image(custom / lines[0].first.substr(1));
  EXPECT_EQ(c.width, 128);
  EXPECT_EQ(c.height, 64);
}

TEST_F(SynthCli, BadFlagsAreUsageErrors) {
  EXPECT_EQ(run("synth --out " + (dir_ / "x").string() + " --camera pinhole"), 2);
  EXPECT_NE(output_.find("--camera"), std::string::npos) << output_;
  EXPECT_EQ(run("synth --out " + (dir_ / "x").string() + " --count 0"), 2);
  EXPECT_NE(output_.find("--count"), std::string::npos) << output_;
  EXPECT_EQ(run("synth --count 3"), 2);  // --out is required
  EXPECT_EQ(run("synth --help"), 0);
  EXPECT_NE(output_.find("--sparse"), std::string::npos);
  EXPECT_NE(output_.find("--val_fraction"), std::string::npos);
}

}  // namespace
}  // namespace glpdepth
