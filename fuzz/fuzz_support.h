// Shared by the fuzz targets (libFuzzer, built with GLPDEPTH_FUZZ=ON, clang, ASan + UBSan).
// A reader may refuse any input, but only the way a user would see it: glpdepth::Error (or
// LibTorch's c10::Error from inside a tensor call) with a message. Anything else escaping a
// reader (std::out_of_range, std::bad_alloc, a crash, a sanitizer report) is a finding.
#pragma once
#include <c10/util/Exception.h>
#include <sanitizer/allocator_interface.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

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

// Bytes allocated and not yet freed, and their peak, counted through ASan's allocator hooks (one
// reader at a time; libFuzzer's own -malloc_limit_mb hooks sit beside these).
struct AllocationCount {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> peak{0};
};

inline AllocationCount& allocations() {
  static AllocationCount count;
  return count;
}

inline void count_malloc(const volatile void*, size_t size) {
  AllocationCount& count = allocations();
  const int64_t now = count.live += static_cast<int64_t>(size);
  int64_t peak = count.peak.load();
  while (now > peak && !count.peak.compare_exchange_weak(peak, now)) {
  }
}

inline void count_free(const volatile void* pointer) {
  if (pointer != nullptr)
    allocations().live -= static_cast<int64_t>(
        __sanitizer_get_allocated_size(const_cast<const void*>(pointer)));
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

// Issue 27's allocation rule for checkpoints, safetensors and pickles: reading `size` bytes may
// not make the reader hold more than 16x that at once (plus 1 MiB for fixed costs: buffers,
// tables), so a 100-byte header asking for a terabyte is refused before it is attempted. A
// reader that holds more is a finding: reported and aborted, like a sanitizer's report.
template <typename Read>
void expect_clean_refusal_within(size_t size, Read&& read) {
  static const bool installed = [] {
    return __sanitizer_install_malloc_and_free_hooks(count_malloc, count_free) != 0;
  }();
  AllocationCount& count = allocations();
  const int64_t before = count.live.load();
  count.peak = before;
  expect_clean_refusal(read);
  const int64_t held = count.peak.load() - before;
  const int64_t allowed = 16 * static_cast<int64_t>(size) + (int64_t{1} << 20);
  if (installed && held > allowed) {
    std::fprintf(stderr, "==glpdepth-fuzz== a %zu-byte input made the reader hold %lld bytes at "
                 "once, more than 16x its size + 1 MiB (%lld)\n",
                 size, static_cast<long long>(held), static_cast<long long>(allowed));
    std::abort();
  }
}

}  // namespace glpdepth::fuzz
