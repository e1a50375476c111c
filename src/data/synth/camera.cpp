// Camera presets of the real sensors the synthetic data stands in for.
#include <cmath>
#include <sstream>

#include "glpdepth/data/synth.h"
#include "glpdepth/util/error.h"

namespace glpdepth::synth {

Camera camera_preset(const std::string& spec) {
  Camera camera;
  if (spec == "kitti") {
    // KITTI raw 2011_09_26 calib_cam_to_cam.txt, P_rect_02 and S_rect_02.
    camera.fx = camera.fy = 721.5377;
    camera.cx = 609.5593;
    camera.cy = 172.854;
    camera.width = 1242;
    camera.height = 375;
    camera.preset = "kitti";
    return camera;
  }
  if (spec == "drivingstereo") {
    // DrivingStereo half-size frames ("average size 881x400"). APPROXIMATE intrinsics: fx ~ 879
    // px at 881 px width comes from a third-party note and was not checked against the official
    // calibration files (calib/half-image-calib/*.txt); the principal point is taken at the
    // image centre.
    camera.fx = camera.fy = 879.0;
    camera.cx = 440.0;
    camera.cy = 200.0;
    camera.width = 881;
    camera.height = 400;
    camera.preset = "drivingstereo";
    return camera;
  }
  std::vector<double> values;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      values.push_back(std::stod(item, &used));
      check(used == item.size(), "");
    } catch (...) {
      throw UsageError(cat("--camera: '", spec,
                           "' is neither kitti, drivingstereo nor fx,fy,cx,cy,W,H (bad number '",
                           item, "')"));
    }
  }
  if (values.size() != 6)
    throw UsageError(cat("--camera: '", spec,
                         "' is neither kitti, drivingstereo nor fx,fy,cx,cy,W,H (6 numbers)"));
  camera.fx = values[0];
  camera.fy = values[1];
  camera.cx = values[2];
  camera.cy = values[3];
  camera.width = static_cast<int>(std::lround(values[4]));
  camera.height = static_cast<int>(std::lround(values[5]));
  camera.preset = "custom";
  if (!(camera.fx > 0 && camera.fy > 0 && camera.width > 0 && camera.height > 0 &&
        camera.width <= 16384 && camera.height <= 16384))
    throw UsageError(cat("--camera: '", spec, "': focal lengths and size must be positive"));
  return camera;
}

Camera scale_camera(const Camera& camera, double scale) {
  if (!(scale > 0 && scale <= 8)) throw UsageError(cat("--scale: must be in (0, 8], got ", scale));
  Camera scaled = camera;
  scaled.width = std::max(1, static_cast<int>(std::lround(camera.width * scale)));
  scaled.height = std::max(1, static_cast<int>(std::lround(camera.height * scale)));
  // Exact ratios of the rounded size, with pixel centres at integer coordinates.
  double sx = static_cast<double>(scaled.width) / camera.width;
  double sy = static_cast<double>(scaled.height) / camera.height;
  scaled.fx = camera.fx * sx;
  scaled.fy = camera.fy * sy;
  scaled.cx = (camera.cx + 0.5) * sx - 0.5;
  scaled.cy = (camera.cy + 0.5) * sy - 0.5;
  return scaled;
}

}  // namespace glpdepth::synth
