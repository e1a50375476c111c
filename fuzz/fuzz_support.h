// Shared by the fuzz targets (libFuzzer, built with GLPDEPTH_FUZZ=ON, clang, ASan + UBSan).
// A reader may refuse any input, but only the way a user would see it: glpdepth::Error (or
// LibTorch's c10::Error from inside a tensor call) with a message. Anything else escaping a
// reader (std::out_of_range, std::bad_alloc, a crash, a sanitizer report) is a finding.
#pragma once
#include <c10/util/Exception.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "glpdepth/util/error.h"

namespace glpdepth::fuzz {

// The bytes as a file, for readers that take a path: one per process in /dev/shm (or /tmp),
// rewritten for each input.
inline std::filesystem::path as_file(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::filesystem::path folder =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const std::filesystem::path file =
      folder / ("glpdepth-fuzz-" + std::to_string(::getpid()) + suffix);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return file;
}

// Runs `read`; the errors a reader is allowed to give are swallowed.
template <typename Read>
void expect_clean_refusal(Read&& read) {
  try {
    read();
  } catch (const glpdepth::Error&) {
  } catch (const c10::Error&) {
  }
}

}  // namespace glpdepth::fuzz
