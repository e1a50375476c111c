#include "glpdepth/data/lists.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "glpdepth/data/augment.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

struct Pair {
  std::string sequence;
  std::string image, depth;  // relative to the root, starting with "/"
};

bool has_ext(const fs::path& p, std::initializer_list<const char*> exts) {
  const std::string e = to_lower(p.extension().string());
  for (const char* x : exts) {
    if (e == x) return true;
  }
  return false;
}

std::vector<fs::path> sorted_files(const fs::path& dir, std::initializer_list<const char*> exts) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && has_ext(e.path(), exts)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> sorted_dirs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string rel(const fs::path& root, const fs::path& p) {
  return "/" + fs::relative(p, root).generic_string();
}

// Adds (image, depth) for each image whose depth exists; counts the others.
void pair_up(const fs::path& root, const std::string& sequence, const fs::path& image,
             const fs::path& depth, std::vector<Pair>& out, ListsSummary& summary) {
  std::error_code ec;
  if (!fs::is_regular_file(depth, ec)) {
    ++summary.missing_pairs;
    return;
  }
  out.push_back({sequence, rel(root, image), rel(root, depth)});
}

// DrivingStereo: the official layout (train-left-image/<seq>/) or DLAV's flattened one
// (train/train-left-image/<stem>.jpg, sequence = the stem up to its first "_").
void scan_drivingstereo(const fs::path& root, std::vector<Pair>& train, std::vector<Pair>& test,
                        ListsSummary& summary) {
  for (const fs::path& seq_dir : sorted_dirs(root / "train-left-image")) {
    const std::string seq = seq_dir.filename().string();
    for (const fs::path& img : sorted_files(seq_dir, {".jpg", ".jpeg", ".png"})) {
      pair_up(root, seq, img,
              root / "train-depth-map" / seq / (img.stem().string() + ".png"), train, summary);
    }
  }
  for (const fs::path& img :
       sorted_files(root / "train" / "train-left-image", {".jpg", ".jpeg", ".png"})) {
    const std::string stem = img.stem().string();
    pair_up(root, stem.substr(0, stem.find('_')), img,
            root / "train" / "train-depth-map" / (stem + ".png"), train, summary);
  }
  for (const fs::path& base : {root, root / "test"}) {
    for (const fs::path& img : sorted_files(base / "test-left-image" / "left-image-half-size",
                                            {".jpg", ".jpeg", ".png"})) {
      pair_up(root, "test", img,
              base / "test-depth-map" / "depth-map-half-size" / (img.stem().string() + ".png"),
              test, summary);
    }
  }
}

// KITTI: annotated depth of data_depth_annotated/train/<drive> (train and val, by drive) and
// data_depth_annotated/val/<drive> (test), images from raw_data/<date>/<drive>/image_02/data.
void scan_kitti(const fs::path& root, std::vector<Pair>& train, std::vector<Pair>& test,
                ListsSummary& summary) {
  for (const char* split : {"train", "val"}) {
    for (const fs::path& drive_dir : sorted_dirs(root / "data_depth_annotated" / split)) {
      const std::string drive = drive_dir.filename().string();
      const std::string date = drive.substr(0, 10);
      for (const fs::path& gt : sorted_files(
               drive_dir / "proj_depth" / "groundtruth" / "image_02", {".png"})) {
        fs::path img = root / "raw_data" / date / drive / "image_02" / "data" / gt.filename();
        std::error_code ec;
        if (!fs::is_regular_file(img, ec)) {
          ++summary.missing_pairs;
          continue;
        }
        (std::string(split) == "train" ? train : test)
            .push_back({drive, rel(root, img), rel(root, gt)});
      }
    }
  }
}

// NYU Depth v2: BTS "sync" scenes (train and val, by scene) and official_splits/test (test).
void scan_nyu(const fs::path& root, std::vector<Pair>& train, std::vector<Pair>& test,
              ListsSummary& summary) {
  auto scan = [&](const fs::path& dir, std::vector<Pair>& out) {
    for (const fs::path& scene : sorted_dirs(dir)) {
      for (const fs::path& img : sorted_files(scene, {".jpg", ".jpeg", ".png"})) {
        const std::string name = img.filename().string();
        if (name.rfind("rgb_", 0) != 0) continue;
        fs::path depth = scene / ("sync_depth_" + img.stem().string().substr(4) + ".png");
        pair_up(root, scene.filename().string(), img, depth, out, summary);
      }
    }
  };
  scan(root / "sync", train);
  scan(root / "official_splits" / "test", test);
}

std::string lines(const std::vector<Pair>& pairs) {
  std::string text;
  for (const Pair& p : pairs) text += p.image + " " + p.depth + "\n";
  return text;
}

}  // namespace

std::vector<std::string> choose_held_out(std::vector<std::string> sequences, double fraction,
                                         uint64_t seed) {
  std::sort(sequences.begin(), sequences.end());
  sequences.erase(std::unique(sequences.begin(), sequences.end()), sequences.end());
  const int64_t n = static_cast<int64_t>(sequences.size());
  int64_t k = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  if (fraction > 0 && k == 0 && n >= 2) k = 1;
  if (k >= n) k = n - 1;  // keep at least one training sequence
  if (k <= 0) return {};
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(sequences[i], sequences[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  std::vector<std::string> held(sequences.begin(), sequences.begin() + k);
  std::sort(held.begin(), held.end());
  return held;
}

ListsSummary make_lists(const MakeListsOptions& options) {
  check(options.val_fraction >= 0 && options.val_fraction < 1, "--val_fraction must be in [0, 1), got ",
        options.val_fraction);
  std::error_code ec;
  check(fs::is_directory(options.data_path, ec), "--data_path ", options.data_path.string(),
        ": not a folder");
  ListsSummary summary;
  summary.out = options.out.empty() ? options.data_path / "lists" : options.out;
  std::vector<Pair> all_train, test;
  const fs::path& root = options.data_path;
  if (options.dataset == DatasetKind::kDrivingStereo) {
    scan_drivingstereo(root, all_train, test, summary);
  } else if (options.dataset == DatasetKind::kKitti) {
    scan_kitti(root, all_train, test, summary);
  } else if (options.dataset == DatasetKind::kNyuDepthV2) {
    scan_nyu(root, all_train, test, summary);
  } else {
    throw UsageError(cat("dataset ", to_string(options.dataset),
                         ": make-lists knows kitti, drivingstereo and nyudepthv2"));
  }
  check(!all_train.empty() || !test.empty(), "--data_path ", root.string(),
        ": found no ", to_string(options.dataset), " image/depth pairs in any known layout (see docs/DATA.md)");

  std::vector<std::string> sequences;
  for (const Pair& p : all_train) sequences.push_back(p.sequence);
  std::sort(sequences.begin(), sequences.end());
  sequences.erase(std::unique(sequences.begin(), sequences.end()), sequences.end());
  summary.val_sequences = choose_held_out(sequences, options.val_fraction, options.seed);
  summary.train_sequences =
      static_cast<int64_t>(sequences.size() - summary.val_sequences.size());
  if (options.val_fraction > 0 && summary.val_sequences.empty()) {
    summary.notes.push_back(cat("only ", sequences.size(),
                                " training sequence(s): no validation split could be held out "
                                "by whole sequences; val.txt is empty"));
  }
  std::vector<Pair> train, val;
  for (Pair& p : all_train) {
    bool held = std::binary_search(summary.val_sequences.begin(), summary.val_sequences.end(),
                                   p.sequence);
    (held ? val : train).push_back(std::move(p));
  }
  if (test.empty()) summary.notes.push_back("no test pairs found; test.txt is empty");
  if (summary.missing_pairs > 0) {
    summary.notes.push_back(cat(summary.missing_pairs, " image(s) without a matching depth map (or "
                                "depth maps without an image) were left out"));
  }
  summary.train = static_cast<int64_t>(train.size());
  summary.val = static_cast<int64_t>(val.size());
  summary.test = static_cast<int64_t>(test.size());
  write_bytes_atomic(summary.out / "train.txt", lines(train));
  write_bytes_atomic(summary.out / "val.txt", lines(val));
  write_bytes_atomic(summary.out / "test.txt", lines(test));
  return summary;
}

}  // namespace glpdepth
