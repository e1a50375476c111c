// Pinhole intrinsics for back-projection: from a "fx,fy,cx,cy" string or a KITTI calibration file.
#pragma once
#include <filesystem>
#include <string>

namespace glpdepth {

// Pinhole intrinsics in pixels of an image's current frame (crops and flips move the principal
// point). 0 means unknown (see known()). Shared by data samples and the output writers.
struct Intrinsics {
  double fx = 0, fy = 0, cx = 0, cy = 0;

  bool known() const { return fx > 0 && fy > 0; }

  // After cropping `top` rows and `left` columns (e.g. the KITTI kb-crop) the principal point
  // moves by the same amount.
  Intrinsics cropped(int top, int left) const { return {fx, fy, cx - left, cy - top}; }
  // After resizing the image by sx horizontally and sy vertically.
  Intrinsics scaled(double sx, double sy) const { return {fx * sx, fy * sy, cx * sx, cy * sy}; }
};

// "fx,fy,cx,cy" (commas and/or spaces). Throws UsageError naming --intrinsics.
Intrinsics parse_intrinsics(const std::string& text);

// KITTI-style calibration file: the 3x4 "P_rect_<camera>:" matrix gives fx = P[0], cx = P[2],
// fy = P[5], cy = P[6]. Camera "02" is KITTI raw's left colour camera (calib_cam_to_cam.txt; the
// odometry form "P2:" is accepted too), "101" DrivingStereo's left camera
// (calib/half-image-calib/<seq>.txt). Throws Error naming the file when the line is missing or
// malformed.
Intrinsics read_kitti_calib(const std::filesystem::path& path, const std::string& camera = "02");

// An existing file is read as a KITTI calibration file; anything else is parsed as fx,fy,cx,cy.
Intrinsics load_intrinsics(const std::string& file_or_values);

}  // namespace glpdepth
