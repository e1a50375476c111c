#include "glpdepth/io/calib.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

// Parses whitespace/comma separated numbers; returns false on any junk.
bool parse_numbers(const std::string& text, std::vector<double>& out) {
  std::string s = text;
  for (char& c : s) {
    if (c == ',') c = ' ';
  }
  std::istringstream in(s);
  std::string token;
  while (in >> token) {
    try {
      size_t used = 0;
      double v = std::stod(token, &used);
      if (used != token.size() || !std::isfinite(v)) return false;
      out.push_back(v);
    } catch (const std::exception&) {
      return false;
    }
  }
  return true;
}

void check_positive_focal(const Intrinsics& k, const std::string& where) {
  check(k.fx > 0 && k.fy > 0, where, ": focal lengths must be positive, got fx=", k.fx,
        " fy=", k.fy);
}

}  // namespace

Intrinsics parse_intrinsics(const std::string& text) {
  std::vector<double> v;
  if (!parse_numbers(text, v) || v.size() != 4) {
    throw UsageError(
        cat("--intrinsics: expected four numbers fx,fy,cx,cy, got '", text, "'"));
  }
  Intrinsics k{v[0], v[1], v[2], v[3]};
  if (!(k.fx > 0 && k.fy > 0)) {
    throw UsageError(cat("--intrinsics: focal lengths must be positive, got '", text, "'"));
  }
  return k;
}

Intrinsics read_kitti_calib(const std::filesystem::path& path, const std::string& camera) {
  const std::string text = read_file_bytes(path);
  std::vector<std::string> keys = {"P_rect_" + camera + ":"};
  if (camera.size() == 2 && camera[0] == '0') keys.push_back(cat("P", camera.substr(1), ":"));
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (const std::string& key : keys) {
      if (line.compare(0, key.size(), key) != 0) continue;
      std::vector<double> p;
      if (!parse_numbers(line.substr(key.size()), p) || p.size() != 12) {
        throw Error(cat("file ", path.string(), ": '", key,
                        "' must be followed by 12 numbers (a 3x4 projection matrix)"));
      }
      Intrinsics k{p[0], p[5], p[2], p[6]};
      check_positive_focal(k, cat("file ", path.string()));
      return k;
    }
  }
  throw Error(cat("file ", path.string(), ": no '", keys[0], "' line (expected a KITTI ",
                  "calib_cam_to_cam.txt)"));
}

Intrinsics load_intrinsics(const std::string& file_or_values) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(file_or_values, ec)) {
    return read_kitti_calib(file_or_values);
  }
  return parse_intrinsics(file_or_values);
}

}  // namespace glpdepth
