// Small on-disk datasets in each layout, written by the tests themselves. Pixel values are
// functions of (x, y) so that crops and flips can be checked against the originals.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "glpdepth/io/image.h"

namespace glpdepth::testing {

namespace fs = std::filesystem;

// RGB = (x + seed, y + 2*seed, x + y) mod 256.
inline Image8 pattern_rgb(int w, int h, int seed = 0) {
  Image8 im(w, h, 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      p[0] = static_cast<uint8_t>((x + seed) % 256);
      p[1] = static_cast<uint8_t>((y + 2 * seed) % 256);
      p[2] = static_cast<uint8_t>((x + y) % 256);
    }
  }
  return im;
}

// raw = 1 + x + 3*y + 7*seed (never 0, fits uint16 for the sizes used).
inline uint16_t pattern_raw(int x, int y, int seed = 0) {
  return static_cast<uint16_t>(1 + x + 3 * y + 7 * seed);
}

inline Image16 pattern_depth(int w, int h, int seed = 0) {
  Image16 d(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) d.at(x, y) = pattern_raw(x, y, seed);
  }
  return d;
}

inline void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// KITTI (BTS/GLP layout) with `frames` frames of one drive; returns the list text.
// Writes DIR/raw_data/2011_09_26/calib_cam_to_cam.txt with P_rect_02 fx=721.5, cx=609.5, cy=172.8.
inline std::string write_kitti(const fs::path& root, int w, int h, int frames,
                               const std::string& drive = "2011_09_26_drive_0002_sync") {
  const std::string date = drive.substr(0, 10);
  write_text(root / "raw_data" / date / "calib_cam_to_cam.txt",
             "calib_time: 09-Jan-2012 13:57:47\n"
             "P_rect_00: 7.2e+02 0 6.0e+02 0 0 7.2e+02 1.7e+02 0 0 0 1 0\n"
             "P_rect_02: 7.215e+02 0.0 6.095e+02 4.48e+01 0.0 7.216e+02 1.728e+02 2.1e-01 "
             "0.0 0.0 1.0 2.7e-03\n");
  std::string list;
  for (int f = 0; f < frames; ++f) {
    char frame[32];
    std::snprintf(frame, sizeof frame, "%010d.png", f);
    std::string img = "/raw_data/" + date + "/" + drive + "/image_02/data/" + frame;
    std::string gt = "/data_depth_annotated/train/" + drive +
                     "/proj_depth/groundtruth/image_02/" + frame;
    fs::create_directories((root.string() + img.substr(0, img.rfind('/'))));
    fs::create_directories((root.string() + gt.substr(0, gt.rfind('/'))));
    write_image(root.string() + img, pattern_rgb(w, h, f));
    write_png16(root.string() + gt, pattern_depth(w, h, f));
    list += img + " " + gt + "\n";
  }
  return list;
}

// DrivingStereo official layout for one sequence; images as `ext` (".png" keeps values exact).
inline std::string write_drivingstereo_train(const fs::path& root, const std::string& seq, int w,
                                             int h, int frames, const std::string& ext = ".png") {
  std::string list;
  for (int f = 0; f < frames; ++f) {
    std::string stem = seq + "_" + seq + "-" + std::to_string(100 + f);
    std::string img = "/train-left-image/" + seq + "/" + stem + ext;
    std::string gt = "/train-depth-map/" + seq + "/" + stem + ".png";
    fs::create_directories(root / "train-left-image" / seq);
    fs::create_directories(root / "train-depth-map" / seq);
    write_image(root.string() + img, pattern_rgb(w, h, f));
    write_png16(root.string() + gt, pattern_depth(w, h, f));
    list += img + " " + gt + "\n";
  }
  return list;
}

}  // namespace glpdepth::testing
