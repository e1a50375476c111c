// Ground-truth folder layouts: where the depth ground truth of a prediction named after its frame
// lives, for offline evaluation of prediction PNGs (`glpdepth eval-pngs`, the original's
// eval_with_pngs.py, spec 3.2):
//   kitti  <drive>_<frame>.png -> GT/data_depth_annotated/{train,val}/<drive>/proj_depth/
//          groundtruth/image_02/<frame>.png (or GT pointing at data_depth_annotated itself)
//   nyu    <scene>_rgb_<frame>.png -> GT/official_splits/test/<scene>/sync_depth_<frame>.png
//          (or GT/<scene>/sync_depth_<frame>.png)
//   flat   GT/<the same file name>
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace glpdepth {

enum class GtLayout {
  kAuto,   // the dataset's layout, then flat
  kKitti,
  kNyu,
  kFlat,
};

// "auto", "kitti", "nyu", "flat".
const char* gt_layout_name(GtLayout layout);

// The paths where the ground truth of the prediction `file_name` may be under `gt`, most likely
// first. kAuto tries `dataset_layout` (kFlat for datasets without one of their own), then flat.
std::vector<std::filesystem::path> gt_candidates(const std::filesystem::path& gt,
                                                 const std::string& file_name, GtLayout layout,
                                                 GtLayout dataset_layout = GtLayout::kFlat);

// The first of `candidates` that is a file; empty when none is.
std::filesystem::path first_existing_file(const std::vector<std::filesystem::path>& candidates);

}  // namespace glpdepth
