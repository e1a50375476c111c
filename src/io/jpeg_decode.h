// JPEG decoding through libjpeg-turbo (internal to src/io; image.cpp is its one caller).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "glpdepth/io/image.h"

namespace glpdepth::detail {

struct JpegHeader {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3 (colour); CMYK files are refused
};

// Reads the frame header only. Throws Error naming `name` for anything libjpeg refuses.
JpegHeader read_jpeg_header(const uint8_t* bytes, size_t size, const std::string& name);

// Decodes to `channels` (1 gray, 2 gray + opaque alpha, 3 RGB, 4 RGB + opaque alpha; the caller,
// decode_image, has checked it is 1 to 4). The pixel count is checked against `pixel_limit` from
// the header, before anything is decoded. Corrupt entropy-coded data is an error, not grey blocks
// (libjpeg only warns about it).
Image8 decode_jpeg(const uint8_t* bytes, size_t size, int channels, const std::string& name,
                   int64_t pixel_limit);

}  // namespace glpdepth::detail
