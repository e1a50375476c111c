// Training logs: CSV, TensorBoard event files and a console progress reporter.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace glpdepth {

// Appends rows to a CSV file, flushing each one. A new (or empty) file gets the header first; an
// existing one (resume) must start with the same header, else glpdepth::Error.
class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns);
  // Numbers are written with 10 significant digits (non-finite as nan/inf/-inf).
  void row(const std::vector<double>& values);
  // Fields are quoted when they hold a comma, quote or newline.
  void row(const std::vector<std::string>& fields);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_line(const std::vector<std::string>& fields);
  std::filesystem::path path_;
  std::vector<std::string> columns_;
  std::ofstream out_;
};

// CRC-32C (Castagnoli) and TFRecord's masked form ((crc >> 15 | crc << 17) + 0xa282ead8).
uint32_t crc32c(std::string_view data, uint32_t crc = 0);
uint32_t masked_crc32c(std::string_view data);

// Writes TensorBoard scalars to <dir>/events.out.tfevents.<unix seconds>.<hostname>: TFRecord
// frames holding Event protobufs, the first with file_version "brain.Event:2". Each write is
// flushed. The folder is created if needed.
class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::filesystem::path& dir);
  // wall_time: seconds since the epoch; < 0 means now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = -1.0);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::filesystem::path path_;
  std::ofstream out_;
};

// Progress of a loop of `total` steps. On a terminal: one line redrawn with '\r' (bar, step,
// rate, ETA, loss, lr), at most every 0.1 s. Otherwise one plain line every `every_steps` steps
// or `every_seconds` seconds (whichever comes first; 0 turns that trigger off), and at the end.
struct ProgressOptions {
  bool terminal = false;  // use stderr_is_terminal() for the real thing
  int64_t every_steps = 50;
  double every_seconds = 30.0;
  int bar_width = 24;
  std::string label;  // e.g. "epoch 3/25"
};
bool stderr_is_terminal();

class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;
  ProgressReporter(std::ostream& out, int64_t total, ProgressOptions options = {});
  // step: 1-based steps done. `now` lets tests drive the clock.
  void update(int64_t step, double loss, double lr);
  void update(int64_t step, double loss, double lr, Clock::time_point now);
  // Prints the final state (and the newline that ends the redrawn line on a terminal).
  void finish();
  void finish(Clock::time_point now);
  // The text of one report (without '\r' or '\n').
  std::string format(int64_t step, double loss, double lr, double elapsed_s) const;

 private:
  std::ostream& out_;
  int64_t total_;
  ProgressOptions options_;
  Clock::time_point start_;
  Clock::time_point last_print_;
  int64_t last_step_printed_ = 0;
  int64_t step_ = 0;
  double loss_ = 0.0;
  double lr_ = 0.0;
  bool printed_any_ = false;
  bool finished_ = false;
};

}  // namespace glpdepth
