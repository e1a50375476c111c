// JPEG through libjpeg-turbo rather than stb: it is the decoder behind OpenCV's imread (the
// reference's loader, so DrivingStereo frames decode to the same pixels), it is fuzzed
// continuously in OSS-Fuzz, and its SIMD paths are several times faster. Debian 12's stb
// snapshot had two defects our fuzzing found (docs/RELIABILITY.md).
//
// libjpeg reports errors through a callback that must not return: it longjmps back to the
// setjmp in `run`, whose frame holds no C++ object with a destructor, so nothing is skipped.
#include "jpeg_decode.h"

#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared before it.
#include <jerror.h>
#include <jpeglib.h>

#include "glpdepth/util/error.h"

namespace glpdepth::detail {
namespace {

// A progressive file may hold any number of scans, each a pass over the whole image: a small
// file with thousands of them is a denial of service, not a photo (libjpeg-turbo's own fuzzers
// stop at 500; real encoders write about 10).
constexpr int kMaxScans = 500;

struct ErrorState {
  jpeg_error_mgr manager;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void fail(j_common_ptr info) {
  auto* state = reinterpret_cast<ErrorState*>(info->err);
  std::longjmp(state->jump, 1);
}

void on_error(j_common_ptr info) {
  auto* state = reinterpret_cast<ErrorState*>(info->err);
  info->err->format_message(info, state->message);
  fail(info);
}

// Warnings that leave the pixels intact pass; the others mean corrupt data that libjpeg would
// paint over with grey, a silent wrong result.
bool harmless(int code) {
  return code == JWRN_EXTRANEOUS_DATA || code == JWRN_NOT_SEQUENTIAL || code == JWRN_ADOBE_XFORM ||
         code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC;
}

void on_message(j_common_ptr info, int level) {
  if (level >= 0 || harmless(info->err->msg_code)) return;  // trace messages and harmless ones
  on_error(info);
}

void on_progress(j_common_ptr info) {
  auto* decoder = reinterpret_cast<j_decompress_ptr>(info);
  if (decoder->input_scan_number <= kMaxScans) return;
  auto* state = reinterpret_cast<ErrorState*>(info->err);
  std::snprintf(state->message, sizeof state->message, "more than %d scans", kMaxScans);
  fail(info);
}

struct Request {
  const uint8_t* bytes;
  size_t size;
  int channels;  // 0: header only
  int64_t pixel_limit;
  JpegHeader header;
  Image8* image;  // sized here once the header is read
  bool too_many_pixels;
  bool cmyk;
};

// Everything libjpeg does happens inside this function: a longjmp lands on its setjmp.
bool run(Request& request, ErrorState& errors) {
  jpeg_decompress_struct decoder;
  jpeg_progress_mgr progress;
  decoder.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = on_error;
  errors.manager.emit_message = on_message;
  errors.message[0] = '\0';
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&decoder);
    return false;
  }
  jpeg_create_decompress(&decoder);
  progress.progress_monitor = on_progress;
  decoder.progress = &progress;
  jpeg_mem_src(&decoder, request.bytes, static_cast<unsigned long>(request.size));
  jpeg_read_header(&decoder, TRUE);
  request.header.width = static_cast<int>(decoder.image_width);
  request.header.height = static_cast<int>(decoder.image_height);
  request.header.channels = decoder.num_components == 1 ? 1 : 3;
  request.cmyk = decoder.jpeg_color_space == JCS_CMYK || decoder.jpeg_color_space == JCS_YCCK;
  request.too_many_pixels =
      static_cast<int64_t>(decoder.image_width) * decoder.image_height > request.pixel_limit;
  if (request.channels == 0 || request.cmyk || request.too_many_pixels) {
    jpeg_destroy_decompress(&decoder);
    return true;
  }
  const bool colour = request.channels >= 3;
  decoder.out_color_space = request.channels == 4 ? JCS_EXT_RGBA : colour ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_start_decompress(&decoder);
  const int stride = request.channels == 2 ? 1 : request.channels;  // gray + alpha: gray first
  Image8& image = *request.image;
  try {
    image = Image8(static_cast<int>(decoder.output_width), static_cast<int>(decoder.output_height),
                   request.channels);
  } catch (...) {  // out of memory: libjpeg's own memory still goes back
    jpeg_destroy_decompress(&decoder);
    throw;
  }
  while (decoder.output_scanline < decoder.output_height) {
    JSAMPROW row =
        image.pixels.data() + static_cast<size_t>(decoder.output_scanline) * image.width * stride;
    if (jpeg_read_scanlines(&decoder, &row, 1) != 1) {  // only a suspending source does this
      std::snprintf(errors.message, sizeof errors.message, "no row %u", decoder.output_scanline);
      fail(reinterpret_cast<j_common_ptr>(&decoder));
    }
  }
  jpeg_finish_decompress(&decoder);
  jpeg_destroy_decompress(&decoder);
  return true;
}

Request run_checked(const uint8_t* bytes, size_t size, int channels, int64_t pixel_limit,
                    Image8* image, const std::string& name) {
  check(size <= 0xffffffffu, "file ", name, ": too large (", size, " bytes)");
  Request request{bytes, size, channels, pixel_limit, {}, image, false, false};
  ErrorState errors;
  check(run(request, errors), "file ", name, ": corrupt JPEG (", errors.message, ")");
  check(!request.cmyk, "file ", name,
        ": a CMYK JPEG (print colours); convert it to RGB, e.g. with ImageMagick's "
        "`convert in.jpg -colorspace sRGB out.jpg`");
  check(request.header.width > 0 && request.header.height > 0, "file ", name, ": an image of ",
        request.header.width, "x", request.header.height, " pixels holds nothing");
  check(!request.too_many_pixels, "file ", name, ": ", request.header.width, "x",
        request.header.height, " pixels, more than the limit of ", pixel_limit,
        " (GLPDEPTH_MAX_IMAGE_PIXELS sets it)");
  return request;
}

// Gray rows were decoded packed at the front of the buffer; spread them out with opaque alpha,
// from the end so nothing is overwritten before it is read.
void add_opaque_alpha_to_gray(Image8& image) {
  const size_t pixels = static_cast<size_t>(image.width) * image.height;
  for (size_t i = pixels; i-- > 0;) {
    image.pixels[2 * i] = image.pixels[i];
    image.pixels[2 * i + 1] = 255;
  }
}

}  // namespace

JpegHeader read_jpeg_header(const uint8_t* bytes, size_t size, const std::string& name) {
  return run_checked(bytes, size, 0, INT64_MAX, nullptr, name).header;
}

Image8 decode_jpeg(const uint8_t* bytes, size_t size, int channels, const std::string& name,
                   int64_t pixel_limit) {
  Image8 image;
  run_checked(bytes, size, channels, pixel_limit, &image, name);
  if (channels == 2) add_opaque_alpha_to_gray(image);
  return image;
}

}  // namespace glpdepth::detail
