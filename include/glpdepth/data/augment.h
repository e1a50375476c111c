// Training augmentation (spec §4.6), in the original order: vertical CutDepth, horizontal flip,
// random crop, brightness/contrast, gamma, hue/saturation/value; plus our random zoom (off by
// default) between the flip and the crop. Every probability and range is an
// option; defaults are the original's. CutDepth is the "sane" variant of spec B6 (docs/DATA.md):
// it fires with a probability (not a per-worker counter) and pastes depth scaled to 0..255.
//
// Randomness comes from an Rng passed in; the Loader derives it from (seed, epoch, sample index)
// so batches do not depend on the number of worker threads.
#pragma once
#include <cstdint>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/sample.h"

namespace glpdepth {

// Small, fast, fully specified generator (splitmix64), so that sequences are the same with every
// standard library (std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  // An independent stream for one sample of one epoch.
  static Rng for_sample(uint64_t seed, int64_t epoch, int64_t index);
  uint64_t next();
  double uniform();                        // [0, 1)
  double uniform(double low, double high); // [low, high)
  uint64_t below(uint64_t bound);          // [0, bound), bound > 0
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

struct AugmentOptions {
  int crop_h = 0, crop_w = 0;  // random crop; 0 = the dataset's (spec B14: honoured when set)
  double flip_p = 0.5;
  double brightness_contrast_p = 0.5;
  double brightness_limit = 0.2;  // beta ~ U(-l, l), added as beta*255
  double contrast_limit = 0.2;    // alpha = 1 + U(-l, l)
  double gamma_p = 0.5;
  double gamma_min = 0.8, gamma_max = 1.2;
  double hsv_p = 0.5;
  double hue_shift = 20;   // OpenCV hue units (0..180): U(-20, 20)
  double sat_shift = 30;
  double val_shift = 20;
  double cutdepth_p = 0.25;         // the original's "every 4th sample", as a probability
  double cutdepth_fraction = 0.75;  // the original's p: strip width = (W - l) * beta * fraction
  float cutdepth_max_depth = 0;     // depth mapped to 255; 0 = the dataset's max_depth
  // Random zoom by s ~ U(scale_min, scale_max) with probability scale_p (docs/CAMERAS.md).
  // s is raised where needed so that the zoomed frame still holds the crop.
  double scale_p = 0;
  double scale_min = 1.0, scale_max = 1.5;
  // true (metric models): depth is divided by s and fx, fy stay, as if the camera had moved
  // s times closer (Eigen et al. 2014). false (camera-aware models): depth stays and fx, fy are
  // multiplied by s, which is what a zoom physically is. The trainer sets it.
  bool scale_divides_depth = true;
};

class Augmenter {
 public:
  // Resolves the 0 defaults of `options` from the dataset table.
  Augmenter(AugmentOptions options, const DatasetDefaults& defaults);
  // Applies the pipeline in place. The sample must have depth of the image's size and be at
  // least crop_h x crop_w (Error naming the sample otherwise).
  void apply(Sample& sample, Rng& rng) const;
  const AugmentOptions& options() const { return options_; }

 private:
  AugmentOptions options_;
};

// The individual transforms, exposed for tests and for other callers.
namespace augment {

// Columns [left, left+width) of all three channels become depth/max_depth*255 (rounded, clipped;
// invalid depth 0 gives 0). The depth target is unchanged.
void cut_depth(Sample& sample, int left, int width, float max_depth);
// Resizes image (bilinear) and depth (nearest: valid and invalid pixels never mix) to
// round(W*s) x round(H*s), pixel centres aligned; the intrinsics follow (fx*sx, cx' =
// (cx+0.5)*sx-0.5, ...). With divide_depth, depth is divided by s and fx, fy keep their values.
void zoom(Sample& sample, double s, bool divide_depth);
// out = trunc(clip(v*alpha + beta*255, 0, 255)) (albumentations, brightness_by_max).
void brightness_contrast(Image8& image, double alpha, double beta);
// out = trunc((v/255)^gamma * 255).
void gamma(Image8& image, double gamma);
// OpenCV-style uint8 HSV (H in [0,180)): H' = trunc((H + dh) mod 180), S' = trunc(clip(S + ds)),
// V' = trunc(clip(V + dv)), back to RGB.
void hue_saturation_value(Image8& image, double hue_shift, double sat_shift, double val_shift);

// OpenCV's uint8 conversions (COLOR_RGB2HSV / COLOR_HSV2RGB), one pixel.
void rgb_to_hsv(const uint8_t rgb[3], uint8_t hsv[3]);
void hsv_to_rgb(const uint8_t hsv[3], uint8_t rgb[3]);

}  // namespace augment
}  // namespace glpdepth
