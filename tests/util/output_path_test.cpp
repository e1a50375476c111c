// The one output rule: an earlier run's results are never overwritten or mixed with a new one's.
#include "glpdepth/util/output_path.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/temp_dir.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

void touch(const fs::path& file) { std::ofstream(file) << "x"; }

TEST(OutputPath, FoldersHoldingResultsAreSkippedForTheNextFreeName) {
  testing::TempDir dir;
  const fs::path out = dir / "out";
  ClaimedOutput first = claim_output_folder(out, ExistingOutput::kNewName, "--output");
  EXPECT_EQ(first.path, out);
  EXPECT_FALSE(first.renamed);
  EXPECT_TRUE(fs::is_directory(out));
  // Still empty: the same folder again.
  EXPECT_EQ(claim_output_folder(out, ExistingOutput::kNewName, "--output").path, out);
  touch(out / "a_depth.png");
  ClaimedOutput second = claim_output_folder(dir / "out/", ExistingOutput::kNewName, "--output");
  EXPECT_EQ(second.path, dir / "out_2");
  EXPECT_TRUE(second.renamed);
  touch(dir / "out_2" / "b.png");
  EXPECT_EQ(claim_output_folder(out, ExistingOutput::kNewName, "--output").path, dir / "out_3");
  // Asked to overwrite: the folder itself, its files left for the command to replace.
  ClaimedOutput over = claim_output_folder(out, ExistingOutput::kOverwrite, "--output");
  EXPECT_EQ(over.path, out);
  EXPECT_FALSE(over.renamed);
  EXPECT_TRUE(fs::exists(out / "a_depth.png"));
}

TEST(OutputPath, FilesGetANumberBeforeTheirExtension) {
  testing::TempDir dir;
  const fs::path file = dir / "sub" / "model.onnx";
  EXPECT_EQ(claim_output_file(file, ExistingOutput::kNewName, "--output").path, file);
  EXPECT_TRUE(fs::is_directory(dir / "sub"));  // its folder is made
  touch(file);
  ClaimedOutput next = claim_output_file(file, ExistingOutput::kNewName, "--output");
  EXPECT_EQ(next.path, dir / "sub" / "model_2.onnx");
  EXPECT_TRUE(next.renamed);
  EXPECT_EQ(claim_output_file(file, ExistingOutput::kOverwrite, "--output").path, file);
}

TEST(OutputPath, ErrorsNameTheFlagThePathAndWhy) {
  testing::TempDir dir;
  touch(dir / "plain");
  try {
    claim_output_folder(dir / "plain" / "out", ExistingOutput::kNewName, "--output");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--output"), std::string::npos) << what;
    EXPECT_NE(what.find("plain/out"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot create the folder"), std::string::npos) << what;
  }
  fs::create_directories(dir / "folder.onnx");
  EXPECT_THROW(claim_output_file(dir / "folder.onnx", ExistingOutput::kNewName, "--output"), Error);
}

}  // namespace
}  // namespace glpdepth
