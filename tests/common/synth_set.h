// The small synthetic sets most tests train or evaluate on, written to disk in the KITTI layout:
// `count` frames of the KITTI camera scaled by `scale`, whole drives of `frames_per_drive`
// frames split into train, val and test lists. Rendering is deterministic for a seed.
#pragma once
#include <cstdint>
#include <filesystem>

#include "glpdepth/data/synth.h"

namespace glpdepth::testing {

struct SynthSet {
  int count = 12;
  uint64_t seed = 5;
  double scale = 0.1;  // 124x38 frames; 0.25 gives 311x94
  int frames_per_drive = 4;
  double val_fraction = 0;
  double test_fraction = 0;
  int workers = 1;
};

inline std::filesystem::path write_synth_set(const std::filesystem::path& root, const SynthSet& set) {
  synth::SynthOptions options;
  options.count = set.count;
  options.seed = set.seed;
  options.camera = synth::scale_camera(synth::camera_preset("kitti"), set.scale);
  options.frames_per_drive = set.frames_per_drive;
  options.val_fraction = set.val_fraction;
  options.test_fraction = set.test_fraction;
  options.workers = set.workers;
  synth::write_dataset(root, options);
  return root;
}

}  // namespace glpdepth::testing
