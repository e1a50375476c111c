// Dataset list files ("<image> <depth> [focal]" lines, relative to the dataset root).
#include "fuzz_support.h"
#include "glpdepth/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = glpdepth::fuzz::as_file(data, size, ".txt");
  glpdepth::fuzz::expect_clean_refusal([&] {
    glpdepth::DatasetOptions options;
    options.dataset = glpdepth::DatasetKind::kKitti;
    options.data_path = file.parent_path();
    options.list = file;
    options.skip_bad_lines = true;
    glpdepth::make_dataset(options);
  });
  return 0;
}
