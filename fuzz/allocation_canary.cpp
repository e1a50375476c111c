// The fuzz targets' allocation rule must be able to fail: a 100-byte "input" whose reader holds
// 64 MiB at once has to be reported and aborted (ctest expects the report, tests run in the
// ASan build of `make test-asan`). Without ASan's allocator hooks the rule would pass anything.
#include <cstdio>
#include <vector>

#include "fuzz_support.h"

int main() {
  glpdepth::fuzz::expect_clean_refusal_within(100, [] {
    std::vector<char> held(size_t{64} << 20, 1);
    asm volatile("" : : "r"(held.data()) : "memory");  // the allocation may not be elided
    std::printf("held %zu bytes\n", held.size());
  });
  std::printf("canary: the allocation rule did not fire\n");
  return 0;
}
