#include "glpdepth/version.h"

#include <torch/version.h>

namespace glpdepth {

const char* libtorch_version() { return TORCH_VERSION; }

}  // namespace glpdepth
