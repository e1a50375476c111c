#include "glpdepth/data/dataset.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace fs = std::filesystem;

// camera.json, parsed once per dataset.
struct CameraFile {
  Intrinsics k;
  float width = 0, height = 0;
  Intrinsics for_frame(int frame_width, int frame_height) const;
};

namespace {

CameraFile read_camera_file(const fs::path& file);


// NYU Depth v2 RGB camera (the dataset toolbox's camera_params).
constexpr Intrinsics kNyuIntrinsics{518.8579f, 519.4696f, 325.5824f, 253.7362f};

bool is_list_file(const fs::path& p) {
  const std::string e = to_lower(p.extension().string());
  return e == ".txt" || e == ".list" || e == ".lst";
}

bool is_image_file(const fs::path& p) {
  std::string ext = to_lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string token;
  while (in >> token) out.push_back(token);
  return out;
}

// data_root + rel_path as the original concatenates, with the separating "/" made sure of.
fs::path join_rel(const fs::path& root, const std::string& rel) {
  if (!rel.empty() && rel.front() == '/') return fs::path(root.string() + rel);
  return root / rel;
}

void check_file(const fs::path& p) {
  std::error_code ec;
  check(fs::is_regular_file(p, ec), "file ", p.string(),
        fs::exists(p, ec) ? ": not a regular file" : ": does not exist");
}

// Reads a whole depth PNG into metres.
std::vector<float> depth_metres(const Image16& d, float scale) {
  std::vector<float> out(d.pixels.size());
  const float inv = 1.f / scale;
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(d.pixels[i]) * inv;
  return out;
}

struct Entry {
  std::string image_rel, depth_rel;
  fs::path image, depth;
  int line = 0;
};

// KITTI, DrivingStereo and NYU: "<image> <depth>" list files relative to the dataset root.
class ListDataset : public Dataset {
 public:
  explicit ListDataset(const DatasetOptions& options) : options_(options) {
    kind_ = options.dataset;
    const std::string name = to_string(kind_);
    list_ = options.list.empty() ? default_list_path(options.data_path, options.split)
                                 : options.list;
    check(!options.data_path.empty(), "dataset ", name, ": --data_path is not set");
    std::error_code ec;
    check(fs::is_directory(options.data_path, ec), "--data_path ", options.data_path.string(),
          ": not a folder");
    std::ifstream in(list_);
    if (!in) {
      throw Error(cat("list file ", list_.string(), ": cannot open (",
                      fs::exists(list_, ec) ? "unreadable" : "does not exist",
                      "); write lists with `glpdepth make-lists --dataset ", name,
                      " --data_path ", options.data_path.string(),
                      "` or pass --train_list/--val_list/--test_list"));
    }
    std::string text;
    int line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      std::vector<std::string> tokens = split_ws(text);
      std::string problem;
      if (tokens.empty()) {
        problem = "empty line";
      } else if (tokens.size() < 2) {
        problem = cat("expected \"<image> <depth>\", found \"", text, "\"");
      } else if (tokens.size() > 3) {
        problem = cat("expected \"<image> <depth> [focal]\", found ", tokens.size(), " fields");
      } else if (tokens[1] == "None") {
        problem = "no depth file (\"None\")";
      }
      if (!problem.empty()) {
        std::string message = cat("list ", list_.string(), " line ", line_no, ": ", problem);
        if (!options.skip_bad_lines) throw Error(message);
        skipped_lines_.push_back(message);
        continue;
      }
      Entry e;
      e.image_rel = tokens[0];
      e.depth_rel = tokens[1];
      e.line = line_no;
      e.image = resolve(tokens[0]);
      e.depth = resolve(tokens[1]);
      entries_.push_back(std::move(e));
    }
    if (!options.intrinsics) {
      fs::path camera = options.data_path / "camera.json";
      if (fs::exists(camera, ec)) camera_ = read_camera_file(camera);
    }
  }

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  bool has_depth() const override { return true; }

  std::string describe(int64_t index) const override {
    return cat("list ", list_.string(), " line ", entries_.at(index).line);
  }
  fs::path image_file(int64_t index) const override { return entries_.at(index).image; }

  Sample get(int64_t index) const override {
    check(index >= 0 && index < size(), "dataset index ", index, " out of range [0, ", size(),
          ")");
    const Entry& e = entries_[index];
    try {
      Sample s;
      s.index = index;
      s.line = e.line;
      s.source = describe(index);
      check_file(e.image);
      check_file(e.depth);
      s.rgb = read_image(e.image, 3);
      Image16 d = read_png16(e.depth);
      check(d.width == s.rgb.width && d.height == s.rgb.height, "depth ", e.depth.string(), " is ",
            d.width, "x", d.height, " but image ", e.image.string(), " is ", s.rgb.width, "x",
            s.rgb.height);
      s.depth = depth_metres(d, defaults_.depth_scale);
      s.intrinsics = intrinsics_for(e, s.rgb.width, s.rgb.height);
      s.name = name_for(e);
      apply_window(s, defaults_);
      return s;
    } catch (const std::exception& ex) {
      throw Error(cat(describe(index), ": ", ex.what()));
    }
  }

 private:
  fs::path resolve(const std::string& rel) const {
    fs::path p = join_rel(options_.data_path, rel);
    if (kind_ != DatasetKind::kNyuDepthV2) return p;
    // The original NYU lists are relative to <root>/sync (train) and
    // <root>/official_splits/test (test); ours are relative to the root.
    std::error_code ec;
    if (fs::exists(p, ec)) return p;
    for (const char* sub : {"sync", "official_splits/test"}) {
      fs::path alt = join_rel(options_.data_path / sub, rel);
      if (fs::exists(alt, ec)) return alt;
    }
    return p;
  }

  std::string name_for(const Entry& e) const {
    fs::path p(e.image_rel);
    if (kind_ == DatasetKind::kKitti) {
      // <drive>_<frame>: path component [-4] of ".../<drive>/image_02/data/<frame>.png".
      std::vector<std::string> parts;
      for (const auto& part : p) parts.push_back(part.string());
      if (parts.size() >= 4) return parts[parts.size() - 4] + "_" + p.filename().string();
      return p.filename().string();
    }
    std::string parent = p.parent_path().filename().string();
    return parent.empty() ? p.filename().string() : parent + "_" + p.filename().string();
  }

  // Calibration files are read once per file; a missing file caches "unknown".
  Intrinsics cached_calib(const fs::path& calib, const std::string& camera) const {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = calib_cache_.find(calib.string());
    if (it == calib_cache_.end()) {
      Intrinsics k;
      std::error_code ec;
      if (fs::exists(calib, ec)) k = read_kitti_calib(calib, camera);
      it = calib_cache_.emplace(calib.string(), k).first;
    }
    return it->second;
  }

  Intrinsics intrinsics_for(const Entry& e, int width, int height) const {
    if (options_.intrinsics) return *options_.intrinsics;
    if (kind_ == DatasetKind::kKitti) {
      // raw_data/<date>/<drive>/image_02/data/<frame>: the calibration sits in <date>.
      Intrinsics k = cached_calib(e.image.parent_path().parent_path().parent_path().parent_path() /
                                      "calib_cam_to_cam.txt",
                                  "02");
      if (k.known()) return k;
    }
    if (camera_) return camera_->for_frame(width, height);
    if (kind_ == DatasetKind::kDrivingStereo) {
      // The official per-sequence calibration: calib/half-image-calib/<seq>.txt, where <seq>
      // is the file stem up to its first "_".
      const std::string stem = e.image.stem().string();
      return cached_calib(options_.data_path / "calib" / "half-image-calib" /
                              (stem.substr(0, stem.find('_')) + ".txt"),
                          "101");
    }
    if (kind_ == DatasetKind::kNyuDepthV2 && width == 640 && height == 480) return kNyuIntrinsics;
    return {};
  }

  DatasetOptions options_;
  DatasetKind kind_;
  fs::path list_;
  std::optional<CameraFile> camera_;
  std::vector<Entry> entries_;
  mutable std::mutex cache_mutex_;
  mutable std::map<std::string, Intrinsics> calib_cache_;


 public:
  void set_defaults(const DatasetDefaults& d) { defaults_ = d; }
};

// An image named by a line of list file `list`: relative to the list's folder; a leading '/'
// means the dataset root when the list is a dataset's (KITTI, DrivingStereo and NYU lists write
// "/2011_09_26/..." relative to it, and sit in <root>/lists/), unless the absolute file exists.
fs::path list_entry_path(const fs::path& list, const fs::path& entry) {
  const fs::path folder = list.parent_path();
  if (!entry.is_absolute()) return folder / entry;
  std::error_code ec;
  if (fs::exists(entry, ec)) return entry;
  const fs::path below = entry.relative_path();
  for (const fs::path& root : {folder, folder.parent_path()})
    if (fs::exists(root / below, ec)) return root / below;
  return entry;  // reported as missing, under the name the list gives
}

// Output names of inference inputs: the path below the inputs' deepest common folder with '/' as
// '_' (KITTI frames, which all sit in folders named data/, become
// "2011_09_26_drive_0001_sync_image_02_data_0000000005.png"); just the file name when all share
// one folder. A name met again (the same file given twice) gets "_2", "_3", ... before its
// extension: no two inputs write the same output.
std::vector<std::string> output_names(const std::vector<fs::path>& files) {
  std::vector<fs::path> paths;
  for (const auto& f : files) paths.push_back(fs::absolute(f).lexically_normal());
  fs::path root = paths.empty() ? fs::path() : paths[0].parent_path();
  for (const auto& p : paths) {
    while (!root.empty() && std::mismatch(root.begin(), root.end(), p.begin(), p.end()).first != root.end())
      root = root.parent_path() == root ? fs::path() : root.parent_path();
  }
  std::vector<std::string> names;
  std::map<std::string, int> seen;
  for (const auto& p : paths) {
    std::string name = p.lexically_relative(root).string();
    std::replace(name.begin(), name.end(), '/', '_');
    const int n = ++seen[name];
    if (n > 1) {
      const fs::path as_path(name);
      name = cat(as_path.stem().string(), "_", n, as_path.extension().string());
      ++seen[name];
    }
    names.push_back(name);
  }
  return names;
}

// Images for inference: files, folders (their images, sorted), globs (sorted) and list files
// (one image per line, relative to the list's folder), in the order given. No depth, no resize:
// the model pads to a multiple of 32 instead of distorting the image (spec B22).
class FolderDataset : public Dataset {
 public:
  explicit FolderDataset(const DatasetOptions& options) : options_(options) {
    std::vector<std::string> inputs = options.inputs;
    if (inputs.empty() && !options.data_path.empty()) inputs.push_back(options.data_path.string());
    check(!inputs.empty(), "dataset folder: no input images given");
    for (const std::string& input : inputs) add_input(input);
    names_ = output_names(files_);
  }

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  bool has_depth() const override { return false; }
  std::string describe(int64_t index) const override {
    return cat("image ", files_.at(index).string());
  }
  fs::path image_file(int64_t index) const override { return files_.at(index); }

  Sample get(int64_t index) const override {
    check(index >= 0 && index < size(), "dataset index ", index, " out of range [0, ", size(),
          ")");
    try {
      Sample s;
      s.index = index;
      s.source = files_[index].string();
      check_file(files_[index]);
      s.rgb = read_image(files_[index], 3);
      if (options_.intrinsics) s.intrinsics = *options_.intrinsics;
      s.name = names_[index];
      apply_window(s, defaults_);
      return s;
    } catch (const std::exception& ex) {
      throw error_about_file(describe(index), files_[index].string(), ex.what());
    }
  }

  void set_defaults(const DatasetDefaults& d) { defaults_ = d; }

 private:
  void add_input(const std::string& input) {
    std::error_code ec;
    fs::path p(input);
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(p)) {
        if (entry.is_regular_file() && is_image_file(entry.path())) found.push_back(entry.path());
      }
      check(!found.empty(), "folder ", input, ": no .png/.jpg/.jpeg/.bmp images");
      std::sort(found.begin(), found.end());
      files_.insert(files_.end(), found.begin(), found.end());
    } else if (input.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      int rc = ::glob(input.c_str(), 0, nullptr, &g);
      std::vector<fs::path> found;
      if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
          fs::path f(g.gl_pathv[i]);
          if (fs::is_regular_file(f, ec) && is_image_file(f)) found.push_back(f);
        }
      }
      ::globfree(&g);
      check(!found.empty(), "pattern ", input, ": matches no images");
      std::sort(found.begin(), found.end());
      files_.insert(files_.end(), found.begin(), found.end());
    } else if (!is_image_file(p) && fs::is_regular_file(p, ec)) {
      check(is_list_file(p), "input ", input,
            ": neither an image (.png, .jpg, .jpeg, .bmp) nor a list of images (.txt, .list)");
      // A list file: the first field of each line is an image.
      std::ifstream in(p);
      check(static_cast<bool>(in), "list ", input, ": cannot open");
      std::string text;
      int line_no = 0;
      while (std::getline(in, text)) {
        ++line_no;
        std::vector<std::string> tokens = split_ws(text);
        if (tokens.empty()) {
          std::string message = cat("list ", input, " line ", line_no, ": empty line");
          if (!options_.skip_bad_lines) throw Error(message);
          skipped_lines_.push_back(message);
          continue;
        }
        fs::path f(tokens[0]);
        if (!is_image_file(f)) {
          std::string message = cat("list ", input, " line ", line_no, ": ", tokens[0],
                                    " is not an image file name (.png, .jpg, .jpeg, .bmp)");
          if (!options_.skip_bad_lines) throw Error(message);
          skipped_lines_.push_back(message);
          continue;
        }
        files_.push_back(list_entry_path(p, f));
      }
    } else {
      // A single image; a missing one is reported by get() like any unreadable sample.
      files_.push_back(p);
    }
  }

  DatasetOptions options_;
  std::vector<fs::path> files_;
  std::vector<std::string> names_;
};

}  // namespace

fs::path default_list_path(const fs::path& data_path, Split split) {
  return data_path / "lists" / (to_string(split) + ".txt");
}

std::string window_does_not_fit(const Dataset& unwindowed, const DatasetDefaults& d) {
  if (unwindowed.size() == 0) return "";
  const Sample first = unwindowed.get(0);
  if (frame_holds_window(d.window, first.height(), first.width())) return "";
  return cat("frames are ", first.width(), "x", first.height(), ", smaller than the ", d.name,
             " window ", d.window.width, "x", d.window.height);
}

WindowDecision decide_window(const DatasetOptions& options, WindowChoice choice) {
  WindowDecision decision;
  decision.spec = dataset_defaults(options.dataset).window;
  if (options.window_h > 0) decision.spec.height = options.window_h;
  if (options.window_w > 0) decision.spec.width = options.window_w;
  decision.apply = decision.spec.kind != WindowKind::kNone && choice != WindowChoice::kOff;
  if (decision.apply && choice == WindowChoice::kAuto) {
    DatasetOptions probe = options;
    probe.window = false;
    const auto unwindowed = make_dataset(probe);
    DatasetDefaults with_window = unwindowed->defaults();
    with_window.window = decision.spec;
    decision.why_not = window_does_not_fit(*unwindowed, with_window);
    decision.apply = decision.why_not.empty();
  }
  return decision;
}

void apply_window(Sample& s, const DatasetDefaults& d) {
  if (d.window.kind == WindowKind::kNone) return;
  const Window w = window_rect(d.window, s.height(), s.width(), cat(d.name, " image"));
  crop_sample(s, w.top, w.left, w.height(), w.width());
}

namespace {

CameraFile read_camera_file(const fs::path& file) {
  std::ifstream in(file);
  check(static_cast<bool>(in), "camera file ", file.string(), ": cannot open");
  try {
    nlohmann::json j;
    in >> j;
    CameraFile c;
    c.k = {j.at("fx").get<float>(), j.at("fy").get<float>(), j.at("cx").get<float>(),
           j.at("cy").get<float>()};
    if (j.contains("width") && j.contains("height")) {
      c.width = j.at("width").get<float>();
      c.height = j.at("height").get<float>();
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat("camera file ", file.string(), ": ", e.what()));
  }
}

}  // namespace

Intrinsics CameraFile::for_frame(int frame_width, int frame_height) const {
  Intrinsics out = k;
  // Frame sizes vary slightly per sequence (DrivingStereo half size); scale to this frame.
  if (frame_width > 0 && frame_height > 0 && width > 0 && height > 0) {
    const float sx = static_cast<float>(frame_width) / width;
    const float sy = static_cast<float>(frame_height) / height;
    out.fx *= sx;
    out.cx *= sx;
    out.fy *= sy;
    out.cy *= sy;
  }
  return out;
}

Intrinsics read_camera_json(const fs::path& file, int frame_width, int frame_height) {
  return read_camera_file(file).for_frame(frame_width, frame_height);
}

std::unique_ptr<Dataset> make_dataset(const DatasetOptions& options) {
  DatasetDefaults d = dataset_defaults(options.dataset);
  if (options.depth_scale > 0) d.depth_scale = options.depth_scale;
  if (options.max_depth > 0) {
    d.max_depth = options.max_depth;
    d.max_depth_eval = options.max_depth;
  }
  if (options.window_h > 0) d.window.height = options.window_h;
  if (options.window_w > 0) d.window.width = options.window_w;
  if (options.window && !*options.window) d.window.kind = WindowKind::kNone;
  if (d.kind == DatasetKind::kFolder) {
    auto ds = std::make_unique<FolderDataset>(options);
    ds->set_defaults(d);
    return ds;
  }
  check(d.depth_scale > 0, "dataset ", d.name, ": depth scale must be > 0");
  auto ds = std::make_unique<ListDataset>(options);
  ds->set_defaults(d);
  return ds;
}

}  // namespace glpdepth
