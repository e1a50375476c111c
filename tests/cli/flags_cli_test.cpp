// Flags are declared once: every flag name has exactly one registration in apps/glpdepth, and a
// flag that several subcommands share shows the same default and the same help in each of them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "common/run_cli.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kCommands = {"train",      "test",   "predict", "eval-pngs",
                                            "make-lists", "synth",  "bench",   "export",
                                            "launch",     "info"};

struct Shown {
  std::string default_value, help;
};

// name -> (command -> what --help shows). Lines look like
//   "  --max_depth,--max-depth FLOAT=0       head output range ..." or, for long names, the
//   help on the next line.
std::map<std::string, std::map<std::string, Shown>> help_of_every_command() {
  std::map<std::string, std::map<std::string, Shown>> flags;
  for (const std::string& command : kCommands) {
    auto [code, text] = testing::run_glpdepth(command + " --help");
    EXPECT_EQ(code, 0) << command;
    std::istringstream lines(text);
    std::string line, pending;
    while (std::getline(lines, line)) {
      const size_t start = line.find_first_not_of(' ');
      if (start == std::string::npos) continue;
      if (line.compare(start, 2, "--") == 0) {
        const size_t gap = line.find("  ", start);
        const std::string head = line.substr(start, gap == std::string::npos ? std::string::npos : gap - start);
        const std::string name = head.substr(0, head.find_first_of(", ="));
        if (name == "--help") continue;
        const size_t eq = head.find('=');
        Shown shown;
        if (eq != std::string::npos) shown.default_value = head.substr(eq + 1, head.find(' ', eq) - eq - 1);
        if (gap != std::string::npos) shown.help = line.substr(line.find_first_not_of(' ', gap));
        flags[name][command] = shown;
        pending = gap == std::string::npos ? name : "";
      } else if (!pending.empty()) {
        flags[pending][command].help = line.substr(start);
        pending.clear();
      }
    }
  }
  return flags;
}

// Flags whose help says what they are in each command (where --output writes, what --batch_size
// 0 means, where --intrinsics come from otherwise): one meaning, tailored words. --exp_name has
// the command's own default too (train's runs are "train", test's results "test"), and so has
// --performance_hint (throughput for predict's and test's many images, latency for bench).
const std::set<std::string> kTailoredHelp = {"--output", "--batch_size", "--intrinsics"};
const std::set<std::string> kOwnDefault = {"--exp_name", "--performance_hint"};

TEST(Flags, SharedFlagsHaveOneDefaultAndOneHelp) {
  const auto flags = help_of_every_command();
  ASSERT_GT(flags.size(), 50u);
  int shared = 0;
  for (const auto& [name, all] : flags) {
    if (kTailoredHelp.count(name) || kOwnDefault.count(name)) continue;
    // A renamed flag's old name, kept in one command (eval-pngs --scale), is that command's own.
    std::map<std::string, Shown> by_command;
    for (const auto& [command, shown] : all)
      if (shown.help.rfind("the old name", 0) != 0) by_command[command] = shown;
    if (by_command.size() < 2) continue;
    ++shared;
    const auto& [first_command, first] = *by_command.begin();
    for (const auto& [command, shown] : by_command) {
      EXPECT_EQ(shown.default_value, first.default_value)
          << name << ": default in " << command << " differs from " << first_command;
      EXPECT_EQ(shown.help, first.help)
          << name << ": help in " << command << " differs from " << first_command;
    }
  }
  EXPECT_GE(shared, 25) << "fewer shared flags than expected: is the help parsed?";
  // Spot checks of sharing that matters to users.
  for (const char* name : {"--encoder", "--max_depth", "--ckpt", "--precision", "--output",
                           "--dataset", "--kitti_crop", "--batch_size", "--seed", "--workers"})
    EXPECT_GE(flags.at(name).size(), 2u) << name;
}

TEST(Flags, EveryFlagNameIsRegisteredExactlyOnce) {
  // Registrations in the CLI sources: our helpers take the snake_case name as a string literal
  // (add_option, add_flag, add_enum_option, option_names); CLI11's own add_option/add_flag take
  // "--a,--b" lists.
  const std::regex helper(R"((?:add_option|add_flag|add_enum_option)\(\s*\w+,\s*"([a-z0-9_]+)\")");
  const std::regex names_call(R"re(option_names\("([a-z0-9_]+)")re");
  const std::regex cli11(R"re(\.add_(?:option|flag)\("(--[^"]+)")re");
  std::map<std::string, std::vector<std::string>> where;
  for (const auto& entry : fs::directory_iterator(fs::path(GLPDEPTH_SOURCE_DIR) / "apps" / "glpdepth")) {
    if (entry.path().extension() != ".cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    const std::string file = entry.path().filename().string();
    for (const std::regex* re : {&helper, &names_call}) {
      for (std::sregex_iterator it(source.begin(), source.end(), *re), end; it != end; ++it)
        where[(*it)[1]].push_back(file);
    }
    for (std::sregex_iterator it(source.begin(), source.end(), cli11), end; it != end; ++it) {
      std::stringstream list((*it)[1].str());
      std::string name;
      while (std::getline(list, name, ','))
        if (name.rfind("--", 0) == 0 && name.find('-', 2) == std::string::npos)
          where[name.substr(2)].push_back(file);
    }
  }
  ASSERT_GT(where.size(), 80u);
  for (const auto& [name, files] : where) {
    std::string list;
    for (const std::string& f : files) list += " " + f;
    EXPECT_EQ(files.size(), 1u) << "--" << name << " is registered in:" << list;
  }
}

}  // namespace
}  // namespace glpdepth

namespace glpdepth {
namespace {

TEST(Flags, TailoredFlagsReallyDifferPerCommand) {
  const auto flags = help_of_every_command();
  for (const std::string& name : kTailoredHelp) {
    std::set<std::string> helps;
    for (const auto& [command, shown] : flags.at(name)) {
      helps.insert(shown.help);
      EXPECT_NE(shown.help.find("train ./logs"), 0u) << name << " in " << command;
    }
    EXPECT_GE(helps.size(), 2u) << name << ": listed as tailored, but every command shows the "
                                   "same help";
  }
  EXPECT_EQ(flags.at("--exp_name").at("train").default_value, "train");
  EXPECT_EQ(flags.at("--exp_name").at("test").default_value, "test");
  // Every --output says only its own command's default.
  for (const auto& [command, shown] : flags.at("--output"))
    EXPECT_EQ(shown.help.find("predict ./predictions"), std::string::npos) << command << ": " << shown.help;
}

// Sections come in one order in every command (CLI11 would list them as first used).
TEST(Flags, HelpSectionsComeInOneOrder) {
  const std::vector<std::string> order = {
      "Options:", "Data:", "Model:", "Augmentation:", "Optimisation:", "Schedule:", "Evaluation:",
      "Checkpoints:", "Output:", "Logging:", "Device and runtime:", "Distributed:",
      "The original's flags:"};
  for (const std::string& command : kCommands) {
    auto [code, text] = testing::run_glpdepth(command + " --help");
    ASSERT_EQ(code, 0) << command;
    std::istringstream lines(text);
    std::string line;
    std::vector<size_t> ranks;
    while (std::getline(lines, line)) {
      const auto it = std::find(order.begin(), order.end(), line);
      if (it != order.end()) ranks.push_back(static_cast<size_t>(it - order.begin()));
    }
    EXPECT_GE(ranks.size(), 2u) << command << ": sections not found in\n" << text;
    EXPECT_TRUE(std::is_sorted(ranks.begin(), ranks.end())) << command << ":\n" << text;
  }
}

TEST(Flags, RenamedFlagWarnsOnceAndStillWorks) {
  // --amp was test's, predict's and bench's name of --precision.
  auto [code, text] = testing::run_glpdepth(
      "bench --random_weights --encoder b0 --height 64 --width 64 --warmup 0 --iters 1 "
      "--backend libtorch --amp fp32 --threads 1");
  EXPECT_EQ(code, 0) << text;
  const std::string warning = "warning: --amp is now --precision";
  const size_t first = text.find(warning);
  EXPECT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(warning, first + 1), std::string::npos) << "warned twice:\n" << text;
  EXPECT_NE(text.find("fp32"), std::string::npos) << text;
  auto [bad_code, bad] = testing::run_glpdepth("bench --random_weights --amp fp99");
  EXPECT_EQ(bad_code, 2) << bad;
  EXPECT_NE(bad.find("--amp fp99"), std::string::npos) << bad;
}

}  // namespace
}  // namespace glpdepth
