// Image files: 8-bit colour images (PNG and BMP via stb, JPEG via libjpeg-turbo) and 16-bit
// single-channel PNGs (depth maps). Readers throw glpdepth::Error naming the file; writers are
// atomic.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace glpdepth {

// 8-bit interleaved image, row-major, `channels` values per pixel (HWC).
struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image8() = default;
  Image8(int width, int height, int channels)
      : width(width),
        height(height),
        channels(channels),
        pixels(static_cast<size_t>(width) * height * channels, 0) {}
  uint8_t* at(int x, int y) {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * channels;
  }
  const uint8_t* at(int x, int y) const {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * channels;
  }
};

// 16-bit single-channel image (depth in dataset units, e.g. metres x 256), row-major.
struct Image16 {
  int width = 0;
  int height = 0;
  std::vector<uint16_t> pixels;

  Image16() = default;
  Image16(int width, int height)
      : width(width), height(height), pixels(static_cast<size_t>(width) * height, 0) {}
  uint16_t& at(int x, int y) { return pixels[static_cast<size_t>(y) * width + x]; }
  uint16_t at(int x, int y) const { return pixels[static_cast<size_t>(y) * width + x]; }
};

struct ImageInfo {
  int width = 0;
  int height = 0;
  int channels = 0;
  int bits = 8;  // 8 or 16 (16 only for PNG)
};

// Every decoder refuses an image whose header declares more pixels than this, before decoding
// (a 100-byte file must not make glpdepth allocate gigabytes). Default 2^28 (268 megapixels, a
// 16384 x 16384 frame); the environment variable GLPDEPTH_MAX_IMAGE_PIXELS sets it for a run.
int64_t image_pixel_limit();
void set_image_pixel_limit(int64_t pixels);

// Header-only probe (no full decode).
ImageInfo probe_image(const std::filesystem::path& path);

// Decodes PNG, JPEG or BMP to gray (channels = 1), gray + alpha (2), RGB (3) or RGBA (4); a
// missing alpha is opaque.
Image8 read_image(const std::filesystem::path& path, int channels = 3);
Image8 decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name);

// Reads a 16-bit single-channel PNG. An 8-bit or multi-channel file is an error naming the file
// ("expected a 16-bit single-channel PNG, found 8-bit ..."), never a silent rescale.
Image16 read_png16(const std::filesystem::path& path);
Image16 decode_png16(const uint8_t* bytes, size_t size, const std::string& name);

// Writers; the format follows the extension for write_image (.png, .jpg/.jpeg, .bmp).
void write_image(const std::filesystem::path& path, const Image8& image, int jpeg_quality = 95);
void write_png16(const std::filesystem::path& path, const Image16& image);
std::string encode_png16(const Image16& image);
// The file bytes write_image would write; `extension` is ".png", ".jpg", ".jpeg" or ".bmp".
std::string encode_image(const Image8& image, const std::string& extension, int jpeg_quality = 95);

}  // namespace glpdepth
