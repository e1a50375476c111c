// `glpdepth make-lists` end to end on a DrivingStereo-layout folder written here.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/temp_dir.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;
};

Result run(const testing::TempDir& dir, const std::string& args) {
  const fs::path log = dir / "log.txt";
  std::string command = std::string(GLPDEPTH_CLI_PATH) + " make-lists " + args + " > '" +
                        log.string() + "' 2>&1";
  int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file_bytes(log)};
}

int count_lines(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

TEST(MakeListsCli, WritesListsAndHoldsOutSequences) {
  testing::TempDir dir;
  const fs::path root = dir / "ds";
  for (const std::string seq : {"2018-07-09-16-11-56", "2018-07-10-09-54-03", "2018-07-11-10-00-00",
                                "2018-07-12-10-00-00"}) {
    fs::create_directories(root / "train-left-image" / seq);
    fs::create_directories(root / "train-depth-map" / seq);
    for (int f = 0; f < 3; ++f) {
      const std::string stem = seq + "_" + seq + "-" + std::to_string(f);
      write_image(root / "train-left-image" / seq / (stem + ".jpg"), Image8(8, 4, 3));
      write_png16(root / "train-depth-map" / seq / (stem + ".png"), Image16(8, 4));
    }
  }
  Result r = run(dir, "--dataset drivingstereo --data-path " + root.string() +
                          " --val_fraction 0.25 --seed 4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(count_lines(root / "lists/train.txt"), 9);
  EXPECT_EQ(count_lines(root / "lists/val.txt"), 3);
  EXPECT_EQ(count_lines(root / "lists/test.txt"), 0);
  EXPECT_NE(r.out.find("val.txt (3 lines, 1 sequences"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("note: no test pairs"), std::string::npos) << r.out;

  Result o = run(dir, "--dataset ds --data_path " + root.string() + " --out " +
                          (dir / "other").string());
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_EQ(count_lines(dir / "other/train.txt") + count_lines(dir / "other/val.txt"), 12);

  Result bad = run(dir, "--dataset cityscapes --data_path " + root.string());
  EXPECT_EQ(bad.code, 2) << bad.out;
  Result empty = run(dir, "--dataset kitti --data_path " + dir.path().string());
  EXPECT_EQ(empty.code, 1) << empty.out;
  EXPECT_NE(empty.out.find("error: --data_path"), std::string::npos) << empty.out;
}

}  // namespace
}  // namespace glpdepth
