// PyTorch's zip container and the pickle inside it (read_pytorch_file), then the state_dict view
// of what it held, as `glpdepth predict --ckpt FILE` reads a stranger's checkpoint.
#include "fuzz_support.h"
#include "glpdepth/io/pytorch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = glpdepth::fuzz::as_file(data, size, ".pth");
  glpdepth::fuzz::expect_clean_refusal_within(size, [&] {
    const glpdepth::PyValue value = glpdepth::read_pytorch_file(file);
    if (value.is_dict()) glpdepth::state_dict_from_value(value, "fuzz.pth");
  });
  return 0;
}
