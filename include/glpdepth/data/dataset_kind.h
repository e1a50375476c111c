// The datasets glpdepth knows, and everything that follows from the choice of one: one row per
// dataset with its names (aliases included) and its conventions (depth range, PNG scale, crops,
// window). Parsed once at the edge (flag or JSON); the library takes DatasetKind, never a name.
#pragma once
#include <string>
#include <vector>

#include "glpdepth/data/window.h"
#include "glpdepth/util/names.h"

namespace glpdepth {

enum class DatasetKind { kKitti, kDrivingStereo, kNyuDepthV2, kFolder };

struct DatasetDefaults {
  DatasetKind kind = DatasetKind::kFolder;
  std::string name;            // the main name: kitti, drivingstereo, nyudepthv2, folder
  std::vector<std::string> aliases;  // also accepted (any case): ds, nyu, imagepath, generic, ...
  std::string folder;          // its folder below --data_path in the original: kitti,
                               // DrivingStereo, nyu_depth_v2 ("" for image folders)
  float max_depth = 0;         // network output range (metres)
  float min_depth_eval = 1e-3f;
  float max_depth_eval = 0;    // evaluation range (80 m driving, 10 m NYU)
  int crop_h = 0, crop_w = 0;  // training random crop
  float depth_scale = 0;       // depth PNG units per metre (KITTI/DS 256, NYU 1000)
  WindowSpec window;           // KITTI kb-crop 352x1216, DrivingStereo 384x864 (margin 9)
};

// The row of `kind`.
const DatasetDefaults& dataset_defaults(DatasetKind kind);
// All rows, in the order --help lists them.
const std::vector<DatasetDefaults>& dataset_table();
// The main names of all rows.
std::vector<std::string> dataset_names();

// A name or alias, any case. Throws UsageError "unknown dataset 'x' (kitti, drivingstereo,
// nyudepthv2, folder; did you mean kitti?)".
DatasetKind parse_dataset(const std::string& name);
std::string to_string(DatasetKind kind);  // the main name

// The three lists of a dataset: lists/train.txt, lists/val.txt, lists/test.txt.
enum class Split { kTrain, kVal, kTest };
const NameTable<Split>& split_names();  // train, val, test
Split parse_split(const std::string& name);  // UsageError listing the names otherwise
std::string to_string(Split split);

}  // namespace glpdepth
