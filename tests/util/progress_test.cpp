// The progress reporter of train, test and predict: plain lines on a pipe, one redrawn line on a
// terminal, with rates and ETA.
#include <gtest/gtest.h>

#include <sstream>

#include "glpdepth/util/progress.h"

namespace glpdepth {
namespace {

TEST(Durations, ClockForProgressLinesAndWordsForReports) {
  EXPECT_EQ(format_duration(65), "01:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_seconds(1.24), "1.2 s");
  EXPECT_EQ(format_seconds(184), "3 min 04 s");
  EXPECT_EQ(format_seconds(7260), "2 h 01 min");
}

using Clock = ProgressReporter::Clock;

TEST(ProgressReporter, PlainLinesEveryNSteps) {
  std::ostringstream out;
  ProgressOptions o;
  o.terminal = false;
  o.every_steps = 10;
  o.every_seconds = 0;
  ProgressReporter p(out, 100, o);
  const auto t0 = Clock::now();
  for (int i = 1; i <= 95; ++i)
    p.update(i, "loss 0.5 lr 1.000e-04", -1, t0 + std::chrono::milliseconds(100 * i));
  p.finish(t0 + std::chrono::milliseconds(9500));
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 10);  // steps 10..90 plus the final 95
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("10/100"), std::string::npos);
  EXPECT_NE(text.find("95/100"), std::string::npos);
  EXPECT_NE(text.find("10.00 it/s"), std::string::npos) << text;
  EXPECT_NE(text.find("loss 0.5"), std::string::npos);
  EXPECT_NE(text.find("lr 1.000e-04"), std::string::npos);
}

TEST(ProgressReporter, PlainLinesEveryNSeconds) {
  std::ostringstream out;
  ProgressOptions o;
  o.every_steps = 0;
  o.every_seconds = 1.0;
  ProgressReporter p(out, 0, o);  // unknown total
  const auto t0 = Clock::now();
  for (int i = 1; i <= 50; ++i)
    p.update(i, "loss 1 lr 1.000e-01", -1, t0 + std::chrono::milliseconds(100 * i));
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5);
}

TEST(ProgressReporter, TerminalRedrawsOneLineWithEta) {
  std::ostringstream out;
  ProgressOptions o;
  o.terminal = true;
  o.label = "epoch 1/2";
  ProgressReporter p(out, 40, o);
  const auto t0 = Clock::now();
  for (int i = 1; i <= 40; ++i)
    p.update(i, "loss 0.25 lr 3.000e-05", -1, t0 + std::chrono::milliseconds(500 * i));
  p.finish(t0 + std::chrono::milliseconds(20000));
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 41);
  EXPECT_EQ(p.format(10, "loss 0.25 lr 3.000e-05", 5.0),
            "epoch 1/2 [######..................] 10/40 2.00 it/s elapsed 00:05 eta 00:15 "
            "loss 0.25 lr 3.000e-05");
  // With the whole run's ETA beside the epoch's.
  EXPECT_EQ(p.format(10, "loss 0.25", 5.0, 3723.0),
            "epoch 1/2 [######..................] 10/40 2.00 it/s elapsed 00:05 eta 00:15 "
            "(run eta 1:02:03) loss 0.25");
}

}  // namespace
}  // namespace glpdepth
