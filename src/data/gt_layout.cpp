#include "glpdepth/data/gt_layout.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

void add_kitti(std::vector<fs::path>& out, const fs::path& gt, const std::string& stem) {
  const size_t cut = stem.rfind('_');
  if (cut == std::string::npos || cut == 0) return;
  const std::string drive = stem.substr(0, cut), frame = stem.substr(cut + 1) + ".png";
  for (const char* split : {"train", "val"}) {
    const fs::path rel = fs::path(split) / drive / "proj_depth" / "groundtruth" / "image_02" / frame;
    out.push_back(gt / "data_depth_annotated" / rel);
    out.push_back(gt / rel);  // gt pointing at data_depth_annotated itself
  }
}

void add_nyu(std::vector<fs::path>& out, const fs::path& gt, const std::string& stem) {
  const size_t cut = stem.rfind("_rgb_");
  if (cut == std::string::npos || cut == 0) return;
  const std::string scene = stem.substr(0, cut);
  const std::string frame = "sync_depth_" + stem.substr(cut + 5) + ".png";
  out.push_back(gt / "official_splits" / "test" / scene / frame);
  out.push_back(gt / scene / frame);
}

}  // namespace

const char* gt_layout_name(GtLayout layout) {
  switch (layout) {
    case GtLayout::kAuto: return "auto";
    case GtLayout::kKitti: return "kitti";
    case GtLayout::kNyu: return "nyu";
    case GtLayout::kFlat: return "flat";
  }
  return "?";
}

std::vector<fs::path> gt_candidates(const fs::path& gt, const std::string& file_name,
                                    GtLayout layout, GtLayout dataset_layout) {
  std::vector<fs::path> out;
  const std::string stem = fs::path(file_name).stem().string();
  const GtLayout first = layout == GtLayout::kAuto ? dataset_layout : layout;
  if (first == GtLayout::kKitti) add_kitti(out, gt, stem);
  if (first == GtLayout::kNyu) add_nyu(out, gt, stem);
  if (layout == GtLayout::kAuto || layout == GtLayout::kFlat) out.push_back(gt / file_name);
  return out;
}

fs::path first_existing_file(const std::vector<fs::path>& candidates) {
  std::error_code ec;
  for (const fs::path& candidate : candidates)
    if (fs::is_regular_file(candidate, ec)) return candidate;
  return {};
}

}  // namespace glpdepth
