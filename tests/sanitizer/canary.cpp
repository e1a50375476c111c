// A sanitizer build must prove it is one: each mode plants the error its sanitizer has to catch,
// and ctest passes only when the sanitizer's report appears (tests/CMakeLists.txt). A build
// that silently lost its instrumentation fails here instead of passing everything.
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

int heap_overflow(int argc) {
  std::vector<int> values(4, 1);
  const int* data = values.data();
  return data[argc + 2];  // argc is 2: reads values[4], one past the end
}

int signed_overflow(int argc) {
  int big = INT_MAX - 1;
  return big + argc;  // argc is 2: INT_MAX + 1
}

int data_race() {
  int counter = 0;
  std::thread a([&counter] { for (int i = 0; i < 1000; ++i) ++counter; });
  std::thread b([&counter] { for (int i = 0; i < 1000; ++i) ++counter; });
  a.join();
  b.join();
  return counter > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (std::strcmp(argv[1], "heap-overflow") == 0) return heap_overflow(argc) == 1 ? 0 : 1;
  if (std::strcmp(argv[1], "signed-overflow") == 0) return signed_overflow(argc) < 0 ? 0 : 1;
  if (std::strcmp(argv[1], "data-race") == 0) return data_race();
  std::fprintf(stderr, "canary: heap-overflow, signed-overflow or data-race\n");
  return 2;
}
