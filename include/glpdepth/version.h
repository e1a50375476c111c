// Which glpdepth this is: recorded in every run folder's config.json and shown by `glpdepth info`.
#pragma once

namespace glpdepth {

// "0.1.0" (the CMake project version).
const char* version();
// The git commit the library was built from ("3f2a1b9", with "-dirty" for local changes), or
// "unknown" outside a git checkout.
const char* source_commit();
// The LibTorch the library was compiled against, e.g. "2.15.0".
const char* libtorch_version();

}  // namespace glpdepth
