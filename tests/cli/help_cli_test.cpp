// Every subcommand's --help lists every option with its default (issue 2).
#include <gtest/gtest.h>

#include <sstream>

#include "common/run_cli.h"

using glpdepth::testing::run_glpdepth;

TEST(HelpCli, EveryOptionOfEverySubcommandShowsItsDefault) {
  auto [code, top] = run_glpdepth("--help");
  ASSERT_EQ(code, 0) << top;
  const std::vector<std::string> commands = {"train", "test", "predict", "eval-pngs", "synth",
                                             "make-lists", "export", "bench", "launch", "info"};
  for (const auto& command : commands) {
    EXPECT_NE(top.find(command), std::string::npos) << command << " missing from glpdepth --help";
    auto [status, help] = run_glpdepth(command + " --help");
    ASSERT_EQ(status, 0) << command;
    std::istringstream lines(help);
    std::string line;
    int options = 0;
    while (std::getline(lines, line)) {
      auto start = line.find_first_not_of(' ');
      if (start == std::string::npos || line.compare(start, 2, "--") != 0) continue;
      if (line.compare(start, 6, "--help") == 0) continue;
      ++options;
      // The option's names and type end at the first double space; its default follows "=".
      std::string head = line.substr(start, line.find("  ", start) - start);
      EXPECT_NE(head.find('='), std::string::npos) << command << ": no default shown in: " << line;
    }
    EXPECT_GE(options, 3) << command;  // --config, --threads, --device at least
  }
  // Snake_case options answer to kebab-case too.
  auto [kebab, output] = run_glpdepth("synth --help");
  EXPECT_NE(output.find("--val_fraction,--val-fraction"), std::string::npos);
}
