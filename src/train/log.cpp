#include "glpdepth/train/log.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// CSV

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream out;
  out << std::setprecision(10) << v;
  return out.str();
}

std::string join_csv(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_field(fields[i]);
  }
  return line;
}

}  // namespace

CsvWriter::CsvWriter(const fs::path& path, std::vector<std::string> columns)
    : path_(path), columns_(std::move(columns)) {
  check(!columns_.empty(), "csv ", path.string(), ": no columns");
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::error_code ec;
  const bool fresh = !fs::exists(path, ec) || fs::file_size(path, ec) == 0;
  if (!fresh) {
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    check(first == join_csv(columns_), "csv ", path.string(), ": exists with a different header ('",
          first, "' instead of '", join_csv(columns_), "')");
  }
  out_.open(path, std::ios::app | std::ios::binary);
  check(out_.good(), "csv ", path.string(), ": cannot open for writing");
  if (fresh) write_line(columns_);
}

void CsvWriter::write_line(const std::vector<std::string>& fields) {
  out_ << join_csv(fields) << '\n';
  out_.flush();
  check(out_.good(), "csv ", path_.string(), ": write failed");
}

void CsvWriter::row(const std::vector<double>& values) {
  std::vector<std::string> fields;
  fields.reserve(values.size());
  for (double v : values) fields.push_back(csv_number(v));
  row(fields);
}

void CsvWriter::row(const std::vector<std::string>& fields) {
  check(fields.size() == columns_.size(), "csv ", path_.string(), ": row has ", fields.size(),
        " fields, header has ", columns_.size());
  write_line(fields);
}

// ---------------------------------------------------------------------------------------------
// CRC-32C

namespace {

std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc32c_table();
  crc = ~crc;
  for (unsigned char byte : data) crc = table[(crc ^ byte) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(std::string_view data) {
  const uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// ---------------------------------------------------------------------------------------------
// Protobuf encoding of the few Event fields we write (tensorflow/core/util/event.proto,
// summary.proto):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

template <typename T>
void put_little_endian(std::string& out, T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  std::reverse(bytes, bytes + sizeof(T));
#endif
  out.append(reinterpret_cast<const char*>(bytes), sizeof(T));
}

void put_bytes_field(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_key(e, 1, 1);
  put_little_endian(e, wall_time);
  if (step != 0) {
    put_key(e, 2, 0);
    put_varint(e, static_cast<uint64_t>(step));  // int64: two's complement as uint64
  }
  return e;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char buffer[256] = {0};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == 0) return "localhost";
  return buffer;
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const fs::path& dir) {
  fs::create_directories(dir);
  const double now = now_seconds();
  const auto seconds = static_cast<int64_t>(now);
  fs::path path = dir / cat("events.out.tfevents.", seconds, ".", hostname());
  // Two writers started in the same second in the same folder must not share a file.
  for (int k = 1; fs::exists(path); ++k) {
    path = dir / cat("events.out.tfevents.", seconds, ".", hostname(), ".", k);
  }
  path_ = path;
  out_.open(path_, std::ios::binary | std::ios::app);
  check(out_.good(), "tensorboard ", path_.string(), ": cannot open for writing");
  std::string e = event_header(now, 0);
  put_bytes_field(e, 3, "brain.Event:2");
  write_record(e);
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string header;
  put_little_endian(header, static_cast<uint64_t>(data.size()));
  std::string frame = header;
  put_little_endian(frame, masked_crc32c(header));
  frame += data;
  put_little_endian(frame, masked_crc32c(data));
  out_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  out_.flush();
  check(out_.good(), "tensorboard ", path_.string(), ": write failed");
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step,
                                   double wall_time) {
  std::string v;
  put_bytes_field(v, 1, tag);
  put_key(v, 2, 5);
  put_little_endian(v, static_cast<float>(value));
  std::string summary;
  put_bytes_field(summary, 1, v);
  std::string e = event_header(wall_time < 0 ? now_seconds() : wall_time, step);
  put_bytes_field(e, 5, summary);
  write_record(e);
}

// ---------------------------------------------------------------------------------------------
// Progress

bool stderr_is_terminal() {
  return isatty(fileno(stderr)) == 1;
}

namespace {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%02lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buffer;
}

}  // namespace

ProgressReporter::ProgressReporter(std::ostream& out, int64_t total, ProgressOptions options)
    : out_(out), total_(std::max<int64_t>(total, 0)), options_(std::move(options)) {
  start_ = last_print_ = Clock::now();
}

std::string ProgressReporter::format(int64_t step, double loss, double lr, double elapsed_s) const {
  std::ostringstream line;
  if (!options_.label.empty()) line << options_.label << " ";
  if (options_.terminal && total_ > 0) {
    const int width = std::max(1, options_.bar_width);
    const auto filled =
        static_cast<int>(std::min<int64_t>(width, step * width / std::max<int64_t>(total_, 1)));
    line << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
  }
  line << step;
  if (total_ > 0) line << "/" << total_;
  const double rate = elapsed_s > 0 ? static_cast<double>(step) / elapsed_s : 0.0;
  line << std::fixed << std::setprecision(2) << " " << rate << " it/s";
  if (total_ > 0) {
    const double eta = rate > 0 ? static_cast<double>(total_ - step) / rate : -1.0;
    line << " elapsed " << format_duration(elapsed_s) << " eta " << format_duration(eta);
  }
  line << std::defaultfloat << std::setprecision(4) << " loss " << loss << std::setprecision(3)
       << std::scientific << " lr " << lr;
  return line.str();
}

void ProgressReporter::update(int64_t step, double loss, double lr) {
  update(step, loss, lr, Clock::now());
}

void ProgressReporter::update(int64_t step, double loss, double lr, Clock::time_point now) {
  step_ = step;
  loss_ = loss;
  lr_ = lr;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (options_.terminal) {
    if (printed_any_ && since_print < 0.1 && step < total_) return;
    out_ << '\r' << format(step, loss, lr, elapsed) << "\x1b[K" << std::flush;
  } else {
    const bool by_steps =
        options_.every_steps > 0 && step - last_step_printed_ >= options_.every_steps;
    const bool by_time = options_.every_seconds > 0 && since_print >= options_.every_seconds;
    if (!by_steps && !by_time) return;
    out_ << format(step, loss, lr, elapsed) << '\n' << std::flush;
  }
  printed_any_ = true;
  last_print_ = now;
  last_step_printed_ = step;
}

void ProgressReporter::finish() {
  finish(Clock::now());
}

void ProgressReporter::finish(Clock::time_point now) {
  if (finished_) return;
  finished_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (options_.terminal) {
    out_ << '\r' << format(step_, loss_, lr_, elapsed) << "\x1b[K\n" << std::flush;
  } else if (step_ != last_step_printed_ || !printed_any_) {
    out_ << format(step_, loss_, lr_, elapsed) << '\n' << std::flush;
  }
}

}  // namespace glpdepth
