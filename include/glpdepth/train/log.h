// Training logs: CSV and TensorBoard event files (the console progress is util/progress.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "glpdepth/io/image.h"

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

// A run continued from a checkpoint redoes the steps after it; the rows a killed run had logged
// for them would appear twice. Keeps the header and the rows whose numeric field `column`
// (0-based) is at most `last`, rewriting the file atomically; returns how many rows went. A
// missing file is left alone.
int64_t drop_csv_rows_after(const std::filesystem::path& path, size_t column, double last);

// CRC-32C (Castagnoli) and TFRecord's masked form ((crc >> 15 | crc << 17) + 0xa282ead8).
uint32_t crc32c(std::string_view data, uint32_t crc = 0);
uint32_t masked_crc32c(std::string_view data);

// Writes TensorBoard summaries (scalars, images, text, hyperparameters) to <dir>/events.out.tfevents.<unix seconds>.<hostname>: TFRecord
// frames holding Event protobufs, the first with file_version "brain.Event:2". Each write is
// flushed. The folder is created if needed.
class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::filesystem::path& dir);
  // wall_time: seconds since the epoch; < 0 means now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = -1.0);
  // An 8-bit RGB image (PNG-encoded, TensorBoard's Images tab).
  void add_image(const std::string& tag, const Image8& image, int64_t step);
  // Markdown text (the Text tab): a string tensor of the text plugin.
  void add_text(const std::string& tag, const std::string& text, int64_t step);
  // Hyperparameters of this run for the HParams tab: the experiment (hparam names and the
  // metric tags, which are ordinary scalars written with add_scalar) and the session's values.
  // Values are numbers, strings or booleans (JSON scalars).
  void add_hparams(const nlohmann::json& hparams, const std::vector<std::string>& metric_tags);
  // Marks the session finished (status success, or failure).
  void end_hparams_session(bool success);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  void write_summary_value(const std::string& value, int64_t step);
  std::filesystem::path path_;
  std::ofstream out_;
};

// "loss 0.3012 lr 1.000e-04": the fields training progress lines carry.
std::string loss_lr_fields(double loss, double lr);

}  // namespace glpdepth
