// Every numeric flag of every command has a range, shown in --help, and a value outside it is a
// usage error at parse time (exit 2, "error:", the flag and the range), before any work. The
// flags are read from each command's --help, so a new numeric flag without a range fails here.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "common/run_cli.h"
#include "common/temp_dir.h"

namespace glpdepth {
namespace {

const char* const kCommands[] = {"train", "test",   "predict", "eval-pngs", "synth",
                                 "make-lists", "export", "bench", "launch", "info"};

struct NumericFlag {
  std::string name;  // --snake_name
  std::string type;  // INT, UINT, FLOAT
  bool ranged = false;
  double min = 0, max = 0;
};

std::vector<NumericFlag> numeric_flags(const std::string& command) {
  auto [code, help] = testing::run_glpdepth(command + std::string(" --help"));
  EXPECT_EQ(code, 0) << help;
  // "  --batch_size,--batch-size INT in [0, 4096]=0   images per step ..."
  static const std::regex line(R"(^\s+(--[a-z0-9_]+)[^ ]* (INT|UINT|FLOAT)( in \[([^,]+), ([^\]]+)\])?)");
  std::vector<NumericFlag> flags;
  std::istringstream in(help);
  std::string text;
  while (std::getline(in, text)) {
    std::smatch m;
    if (!std::regex_search(text, m, line)) continue;
    NumericFlag flag{m[1], m[2], m[3].matched};
    if (flag.ranged) {
      flag.min = std::stod(m[4]);
      flag.max = std::stod(m[5]);
    }
    flags.push_back(flag);
  }
  return flags;
}

// GLPDEPTH_PARSE_ONLY=1 for the commands run while it lives: nothing past parsing runs.
struct ParseOnly {
  ParseOnly() { ::setenv("GLPDEPTH_PARSE_ONLY", "1", 1); }
  ~ParseOnly() { ::unsetenv("GLPDEPTH_PARSE_ONLY"); }
};

TEST(Ranges, EveryNumericFlagHasOneAndValuesOutsideItAreUsageErrors) {
  ParseOnly parse_only;
  int checked = 0;
  for (const char* command : kCommands) {
    for (const NumericFlag& flag : numeric_flags(command)) {
      ASSERT_TRUE(flag.ranged) << command << " " << flag.name << " (" << flag.type
                               << ") shows no range in --help";
      EXPECT_LT(flag.min, flag.max) << command << " " << flag.name;
      // Below the range where that is a number the type can hold, else above it.
      const bool below = flag.min > 0 || flag.type != "UINT";
      std::ostringstream value;
      value.precision(12);
      value << (below ? flag.min - 1 : flag.max * 2);
      // Parse only: had the value passed, nothing would run (and nothing be written).
      testing::TempDir scratch;
      const testing::CliRun run = testing::run_glpdepth_split(
          scratch.path(), std::string(command) + " " + flag.name + " " + value.str());
      EXPECT_EQ(run.code, 2) << command << " " << flag.name << " " << value.str() << ": " << run.out
                             << run.err;
      EXPECT_EQ(run.err.rfind("error: ", 0), 0u) << run.err;
      EXPECT_NE(run.err.find(flag.name), std::string::npos) << run.err;
      EXPECT_NE(run.err.find("must be in ["), std::string::npos) << run.err;
      ++checked;
    }
  }
  EXPECT_GE(checked, 80) << "fewer numeric flags than expected: is --help parsed?";
}

TEST(Ranges, ValuesInsideTheRangeParseAndTextIsRefusedByName) {
  ParseOnly parse_only;
  testing::TempDir scratch;
  auto run = [&](const std::string& args) { return testing::run_glpdepth_split(scratch.path(), args); };
  EXPECT_EQ(run("train --batch_size 4096 --lr 0 --flip_p 1").code, 0);
  const testing::CliRun text = run("predict x.png --threads abc");
  EXPECT_EQ(text.code, 2);
  EXPECT_NE(text.err.find("error: "), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("--threads"), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("expected a number in [0, 4096], got 'abc'"), std::string::npos) << text.err;
}

// The original's train.py/test.py take "--do_kb_crop 1", its eval_with_pngs.py a bare
// "--do_kb_crop": both parse, wherever the flag stands.
TEST(Ranges, TheOriginalsDoKbCropTakesAValueOrNone) {
  ParseOnly parse_only;
  testing::TempDir scratch;
  auto code = [&](const std::string& args) {
    const testing::CliRun run = testing::run_glpdepth_split(scratch.path(), args);
    return run.code;
  };
  EXPECT_EQ(code("eval-pngs --pred a --gt b --do_kb_crop"), 0);
  EXPECT_EQ(code("eval-pngs --do_kb_crop --pred a --gt b"), 0);
  EXPECT_EQ(code("eval-pngs --pred a --gt b --do_kb_crop 1"), 0);
  EXPECT_EQ(code("test --data_path . --random_weights --do_kb_crop 1 --eval_split val"), 0);
  EXPECT_EQ(code("train --data_path . --do_kb_crop=1"), 0);
  EXPECT_EQ(code("eval-pngs --pred a --gt b --do_kb_crop 3"), 2);
}

}  // namespace
}  // namespace glpdepth
