// Camera files: --intrinsics values, KITTI calib_cam_to_cam.txt, camera.json.
#include <string>

#include "fuzz_support.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/io/calib.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::parse_intrinsics(text); });
  const auto file = glpdepth::fuzz::as_file(data, size, ".txt");
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::read_kitti_calib(file); });
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::read_camera_json(file, 1242, 375); });
  return 0;
}
