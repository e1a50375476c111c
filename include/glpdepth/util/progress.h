// Progress of a loop (training epochs, validation, test, predict) for people: on a terminal one
// line redrawn with '\r' (bar, count, rate, ETA of this loop and of the whole run, caller's
// fields such as loss and lr), at most every 0.1 s; off a terminal plain lines at a steady
// cadence (every `every_seconds`, and/or every `every_steps`) and one at the end, never a '\r'.
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace glpdepth {

struct ProgressOptions {
  bool terminal = false;      // see stderr_is_terminal()
  int64_t every_steps = 0;    // plain lines: every N steps (0 = off)
  double every_seconds = 30;  // plain lines: every N seconds (0 = off)
  int bar_width = 24;
  std::string label;          // "epoch 3/25", "validation", "test", ...
  std::string unit = "it";    // of the rate: "it/s", "images/s"
};

bool stderr_is_terminal();

// Durations, the two ways we print them: a clock for progress lines that redraw in place
// ("1:02:03", "04:05", "--:--" for unknown), and words for reports ("1.2 s", "3 min 04 s").
std::string format_duration(double seconds);
std::string format_seconds(double seconds);

class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;
  // total 0 = unknown (no bar, no ETA).
  ProgressReporter(std::ostream& out, int64_t total, ProgressOptions options = {});
  // done: steps finished (1-based count). fields: appended as is ("loss 0.31 lr 1.0e-04").
  // run_remaining_s >= 0 adds the whole run's ETA (e.g. all epochs) beside this loop's.
  void update(int64_t done, const std::string& fields = "", double run_remaining_s = -1);
  void update(int64_t done, const std::string& fields, double run_remaining_s,
              Clock::time_point now);
  // The final state (and, on a terminal, the newline that ends the redrawn line). Idempotent.
  void finish();
  void finish(Clock::time_point now);
  // One report's text, without '\r' or '\n'.
  std::string format(int64_t done, const std::string& fields, double elapsed_s,
                     double run_remaining_s = -1) const;
  double elapsed_seconds() const;

 private:
  std::ostream& out_;
  int64_t total_;
  ProgressOptions options_;
  Clock::time_point start_, last_print_;
  int64_t last_step_printed_ = 0;
  int64_t done_ = 0;
  std::string fields_;
  double run_remaining_ = -1;
  bool printed_any_ = false;
  bool finished_ = false;
};

}  // namespace glpdepth
