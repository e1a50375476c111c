// Datasets: KITTI (Eigen/BTS layout), DrivingStereo, NYU Depth v2 and plain image folders.
// A Dataset turns an index into a decoded Sample with the dataset's fixed window applied (KITTI
// kb-crop, DrivingStereo 384x864); augmentation is separate (augment.h) and batching is the
// Loader's (loader.h). Per-dataset numbers live in one table (dataset_kind.h) and every one of
// them can be overridden through DatasetOptions / AugmentOptions.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glpdepth/data/dataset_kind.h"
#include "glpdepth/data/sample.h"
#include "glpdepth/data/window.h"

namespace glpdepth {

struct DatasetOptions {
  DatasetKind dataset = DatasetKind::kKitti;
  std::filesystem::path data_path;  // the dataset root itself (list paths are relative to it)
  Split split = Split::kTrain;       // picks the default list
  std::filesystem::path list;       // default <data_path>/lists/<split>.txt
  std::vector<std::string> inputs;  // "folder": files, folders, globs, list files (default:
                                    // data_path). Sorted within each input, inputs in order.
  // Overrides of the table (0 / nullopt = the dataset's value).
  float depth_scale = 0;
  float max_depth = 0;
  std::optional<bool> window;       // apply the dataset window (kb-crop / DS window)
  int window_h = 0, window_w = 0;
  std::optional<Intrinsics> intrinsics;  // replaces what the dataset knows
  // Empty or malformed list lines are counted and left out (skipped_lines()) instead of an error.
  bool skip_bad_lines = false;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Decodes sample `index` and applies the dataset window. Thread-safe. Throws Error whose
  // message starts with describe(index) ("list FILE line N") and names the file at fault.
  virtual Sample get(int64_t index) const = 0;
  // "list /x/lists/train.txt line 12" or the image path.
  virtual std::string describe(int64_t index) const = 0;
  // The image file of sample `index` (for probing sizes before decoding); empty when the
  // dataset has no files (in-memory sets).
  virtual std::filesystem::path image_file(int64_t index) const { return {}; }
  // Whether samples carry depth (false for image folders).
  virtual bool has_depth() const = 0;

  // The table row with this dataset's overrides applied.
  const DatasetDefaults& defaults() const { return defaults_; }
  // Lines left out under skip_bad_lines, with one message each.
  const std::vector<std::string>& skipped_lines() const { return skipped_lines_; }

 protected:
  DatasetDefaults defaults_;
  std::vector<std::string> skipped_lines_;
};

// Factory by kind. Reads and checks the list file; decoding happens in get.
std::unique_ptr<Dataset> make_dataset(const DatasetOptions& options);

// The default list of a split: <data_path>/lists/<split>.txt.
std::filesystem::path default_list_path(const std::filesystem::path& data_path, Split split);

// Applies the dataset window of `defaults` to a decoded sample (a no-op for WindowKind::kNone).
// Throws Error naming the sample when the frame is smaller than the window (spec B19).
void apply_window(Sample& sample, const DatasetDefaults& defaults);

// The window decision of `train` and `test` (WindowChoice) for a dataset: whether its window
// (with the options' window_h/window_w) applies, and for kAuto, when it does not fit the first
// frame, why not ("frames are 311x94, smaller than the kitti window 1216x352").
struct WindowDecision {
  bool apply = false;
  WindowSpec spec;
  std::string why_not;
};
WindowDecision decide_window(const DatasetOptions& options, WindowChoice choice);

// The "--window auto" check on a dataset opened without its window:
// empty when its first frame holds the window of `defaults` (or it has no samples), otherwise
// why not, e.g. "frames are 311x94, smaller than the kitti window 1216x352".
std::string window_does_not_fit(const Dataset& unwindowed, const DatasetDefaults& defaults);

// Reads {fx, fy, cx, cy[, width, height]} from a camera.json; intrinsics are rescaled when the
// file's width/height differ from the frame's (pass 0 to skip the rescale).
Intrinsics read_camera_json(const std::filesystem::path& file, int frame_width, int frame_height);

}  // namespace glpdepth
