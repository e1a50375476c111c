#include "glpdepth/train/log.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "glpdepth/util/atomic_file.h"
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
  errno = 0;
  out_.open(path, std::ios::app | std::ios::binary);
  check(out_.good(), "csv ", path.string(), ": cannot open for writing: ", errno_text());
  if (fresh) write_line(columns_);
}

void CsvWriter::write_line(const std::vector<std::string>& fields) {
  errno = 0;
  out_ << join_csv(fields) << '\n';
  out_.flush();
  check(out_.good(), "csv ", path_.string(), ": write failed: ", errno_text());
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

int64_t drop_csv_rows_after(const fs::path& path, size_t column, double last) {
  if (!fs::exists(path)) return 0;
  std::istringstream in(read_file_bytes(path));
  std::string kept, line;
  int64_t dropped = 0;
  for (bool header = true; std::getline(in, line); header = false) {
    // Numbers never hold commas (only quoted text fields could), so splitting is exact here.
    std::istringstream fields(line);
    std::string field;
    size_t read = 0;
    while (read <= column && std::getline(fields, field, ',')) ++read;
    char* end = nullptr;
    const double value = read > column ? std::strtod(field.c_str(), &end) : 0.0;
    if (!header && (end == nullptr || end == field.c_str() || value > last)) {
      ++dropped;
      continue;
    }
    kept += line + "\n";
  }
  if (dropped > 0) write_bytes_atomic(path, kept);
  return dropped;
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
  errno = 0;
  out_.open(path_, std::ios::binary | std::ios::app);
  check(out_.good(), "tensorboard ", path_.string(), ": cannot open for writing: ", errno_text());
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
  errno = 0;
  out_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  out_.flush();
  check(out_.good(), "tensorboard ", path_.string(), ": write failed: ", errno_text());
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

void TensorBoardWriter::write_summary_value(const std::string& value, int64_t step) {
  std::string summary;
  put_bytes_field(summary, 1, value);
  std::string e = event_header(now_seconds(), step);
  put_bytes_field(e, 5, summary);
  write_record(e);
}

void TensorBoardWriter::add_image(const std::string& tag, const Image8& image, int64_t step) {
  check(image.channels == 3 || image.channels == 1, "tensorboard image ", tag,
        ": expected 1 or 3 channels, got ", image.channels);
  std::string img;  // Summary.Image { height 1, width 2, colorspace 3, encoded_image_string 4 }
  put_key(img, 1, 0);
  put_varint(img, static_cast<uint64_t>(image.height));
  put_key(img, 2, 0);
  put_varint(img, static_cast<uint64_t>(image.width));
  put_key(img, 3, 0);
  put_varint(img, static_cast<uint64_t>(image.channels));
  put_bytes_field(img, 4, encode_image(image, ".png"));
  std::string v;
  put_bytes_field(v, 1, tag);
  put_bytes_field(v, 4, img);
  write_summary_value(v, step);
}

namespace {

// SummaryMetadata { plugin_data 1 { plugin_name 1, content 2 } }
std::string plugin_metadata(const std::string& plugin, const std::string& content) {
  std::string data;
  put_bytes_field(data, 1, plugin);
  if (!content.empty()) put_bytes_field(data, 2, content);
  std::string metadata;
  put_bytes_field(metadata, 1, data);
  return metadata;
}

// google.protobuf.Value { number_value 2 | string_value 3 | bool_value 4 }
std::string protobuf_value(const nlohmann::json& value, const std::string& name) {
  std::string out;
  if (value.is_boolean()) {
    put_key(out, 4, 0);
    put_varint(out, value.get<bool>() ? 1 : 0);
  } else if (value.is_number()) {
    put_key(out, 2, 1);
    put_little_endian(out, value.get<double>());
  } else if (value.is_string()) {
    put_bytes_field(out, 3, value.get<std::string>());
  } else {
    throw Error(cat("tensorboard hparam ", name, ": expected a number, string or boolean"));
  }
  return out;
}

// A Summary.Value of the hparams plugin: tag, metadata with HParamsPluginData, and the null
// tensor (DT_FLOAT, shape [0]) that the plugin's own writer attaches.
std::string hparams_value(const std::string& tag, const std::string& plugin_data) {
  std::string shape, dim;
  put_bytes_field(shape, 2, dim);
  std::string tensor;
  put_key(tensor, 1, 0);
  put_varint(tensor, 1);  // DT_FLOAT
  put_bytes_field(tensor, 2, shape);
  std::string v;
  put_bytes_field(v, 1, tag);
  put_bytes_field(v, 9, plugin_metadata("hparams", plugin_data));
  put_bytes_field(v, 8, tensor);
  return v;
}

}  // namespace

void TensorBoardWriter::add_text(const std::string& tag, const std::string& text, int64_t step) {
  std::string shape, dim;  // shape [1]
  put_key(dim, 1, 0);
  put_varint(dim, 1);
  put_bytes_field(shape, 2, dim);
  std::string tensor;  // TensorProto { dtype 1 = DT_STRING (7), tensor_shape 2, string_val 8 }
  put_key(tensor, 1, 0);
  put_varint(tensor, 7);
  put_bytes_field(tensor, 2, shape);
  put_bytes_field(tensor, 8, text);
  std::string v;
  put_bytes_field(v, 1, tag);
  put_bytes_field(v, 9, plugin_metadata("text", ""));
  put_bytes_field(v, 8, tensor);
  write_summary_value(v, step);
}

void TensorBoardWriter::add_hparams(const nlohmann::json& hparams,
                                    const std::vector<std::string>& metric_tags) {
  check(hparams.is_object(), "tensorboard hparams: expected a JSON object");
  // Experiment { hparam_infos 4 { name 1 }, metric_infos 5 { name 1 { tag 2 } } }
  // SessionStartInfo { hparams 1 (map<string, Value>), start_time_secs 5 }
  std::string experiment, session;
  for (const auto& [name, value] : hparams.items()) {
    std::string info;
    put_bytes_field(info, 1, name);
    put_bytes_field(experiment, 4, info);
    std::string entry;
    put_bytes_field(entry, 1, name);
    put_bytes_field(entry, 2, protobuf_value(value, name));
    put_bytes_field(session, 1, entry);
  }
  for (const std::string& tag : metric_tags) {
    std::string metric_name, info;
    put_bytes_field(metric_name, 2, tag);
    put_bytes_field(info, 1, metric_name);
    put_bytes_field(experiment, 5, info);
  }
  put_key(session, 5, 1);
  put_little_endian(session, now_seconds());
  std::string experiment_data, session_data;  // HParamsPluginData { experiment 2 | start 3 }
  put_bytes_field(experiment_data, 2, experiment);
  put_bytes_field(session_data, 3, session);
  write_summary_value(hparams_value("_hparams_/experiment", experiment_data), 0);
  write_summary_value(hparams_value("_hparams_/session_start_info", session_data), 0);
}

void TensorBoardWriter::end_hparams_session(bool success) {
  std::string end;  // SessionEndInfo { status 1 (1 success, 2 failure), end_time_secs 2 }
  put_key(end, 1, 0);
  put_varint(end, success ? 1 : 2);
  put_key(end, 2, 1);
  put_little_endian(end, now_seconds());
  std::string data;
  put_bytes_field(data, 4, end);
  write_summary_value(hparams_value("_hparams_/session_end_info", data), 0);
}

std::string loss_lr_fields(double loss, double lr) {
  std::ostringstream out;
  out << std::setprecision(4) << "loss " << loss << std::setprecision(3) << std::scientific
      << " lr " << lr;
  return out.str();
}

}  // namespace glpdepth
