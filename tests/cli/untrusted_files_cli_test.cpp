// What fuzzing found (fuzz/regressions/, docs/RELIABILITY.md) reaches a user as any malformed file
// does: exit 1, one `error:` line naming the file, nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

using testing::CliRun;
using testing::run_cli;

const fs::path kFound = fs::path(GLPDEPTH_SOURCE_DIR) / "fuzz" / "regressions";

// The last line of stderr is the error; no depth file was written (most inputs are refused when
// predict checks every input first, the others when decoded: before any frame is finished here,
// as each run has only the one input).
void expect_refused(const CliRun& run, const fs::path& input, const fs::path& output) {
  EXPECT_EQ(run.code, 1) << run.err;
  const size_t line = run.err.rfind("\nerror: ");
  const std::string error = run.err.substr(line == std::string::npos ? 0 : line + 1);
  EXPECT_EQ(error.rfind("error: ", 0), 0u) << run.err;
  EXPECT_NE(error.find(input.string()), std::string::npos) << run.err;
  EXPECT_EQ(error.find(input.string()), error.rfind(input.string())) << "named twice: " << error;
  const bool wrote = fs::exists(output) && !fs::is_empty(output);
  EXPECT_FALSE(wrote) << "predict wrote into " << output;
}

TEST(UntrustedFilesCli, ImagesFoundByFuzzingStopPredictNamingTheFile) {
  testing::TempDir dir;
  int tried = 0;
  for (const auto& entry : fs::directory_iterator(kFound / "image_fuzz")) {
    ++tried;
    const fs::path output = dir / ("out" + std::to_string(tried));
    const CliRun run =
        run_cli(dir, "predict '" + entry.path().string() +
                         "' --random_weights --encoder b0 --threads 1 --output " + output.string());
    expect_refused(run, entry.path(), output);
  }
  EXPECT_GE(tried, 7);
}

TEST(UntrustedFilesCli, CheckpointsFoundByFuzzingStopPredictNamingTheFile) {
  testing::TempDir dir;
  write_image(dir / "frame.png", Image8(64, 32, 3));
  int tried = 0;
  for (const auto& entry : fs::directory_iterator(kFound / "pytorch_file_fuzz")) {
    ++tried;
    const fs::path output = dir / ("out" + std::to_string(tried));
    const CliRun run =
        run_cli(dir, "predict " + (dir / "frame.png").string() + " --ckpt '" +
                         entry.path().string() + "' --threads 1 --output " + output.string());
    expect_refused(run, entry.path(), output);
  }
  EXPECT_GE(tried, 1);
}

}  // namespace
}  // namespace glpdepth
