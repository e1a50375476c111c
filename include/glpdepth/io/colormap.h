// Depth to colour. The range is always fixed by the caller ([0, max_depth] by default), never
// taken from the image itself, so frames stay comparable (spec B15). Invalid pixels (depth <= 0,
// NaN, inf) are black.
//
// The maps are our own approximations, generated in code from a handful of anchor colours with
// linear interpolation (turbo, magma, inferno), a hue sweep (rainbow: red -> yellow -> green ->
// cyan -> blue -> violet, in the spirit of OpenCV's COLORMAP_RAINBOW), or a ramp (gray). They
// look like the well-known maps; they are not bit-identical to them.
#pragma once
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>

#include "glpdepth/io/image.h"

namespace glpdepth {

enum class Colormap { kTurbo, kMagma, kInferno, kRainbow, kGray };

// turbo, magma, inferno, rainbow, gray (any case); throws UsageError naming --colormap.
Colormap parse_colormap(const std::string& name);
std::string to_string(Colormap colormap);

// Colour of t in [0, 1] (clamped), RGB.
std::array<uint8_t, 3> colormap_color(Colormap colormap, double t);

// depth (H*W floats, row-major) -> RGB Image8 (channels 3). Values are clamped to
// [min_depth, max_depth] (max > min required); invalid pixels are black.
Image8 colorize(const float* depth, int height, int width, Colormap colormap, double min_depth,
                double max_depth);
// depth: [H,W], [1,H,W] or [1,1,H,W], any float dtype, CPU or CUDA.
Image8 colorize(const torch::Tensor& depth, Colormap colormap, double min_depth,
                double max_depth);

}  // namespace glpdepth
