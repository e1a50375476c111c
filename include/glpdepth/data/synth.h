// Built-in synthetic driving scenes with exact metric depth (`glpdepth synth`).
//
// A seeded generator describes a straight street (road with lane paint, sidewalks, buildings with
// windowed facades, cars, boxes, poles, trees, sky, sun) and a ray caster renders it through a
// pinhole camera 1.65 m above a flat road. Depth is z in camera coordinates (the KITTI
// convention, not the ray length), written like the real datasets: uint16 PNG of metres x 256,
// 0 = invalid (sky and beyond max_depth). Frames come in "drives" of consecutive frames along
// one street; datasets are written in the KITTI or DrivingStereo folder layout with list files.
//
// Coordinates: world X right, Y up, Z forward (road direction); the ground is Y = 0. The camera
// looks along +Z without pitch or roll, so the horizon is the row v = cy.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "glpdepth/data/dataset_kind.h"
#include "glpdepth/io/image.h"

namespace glpdepth::synth {

// Pinhole intrinsics in pixels (pixel centres at integer coordinates) plus the mounting height.
struct Camera {
  double fx = 721.5377;
  double fy = 721.5377;
  double cx = 609.5593;
  double cy = 172.854;
  int width = 1242;
  int height = 375;
  double camera_height = 1.65;   // metres above the road
  std::string preset = "kitti";  // kitti | drivingstereo | custom
};

// "kitti" (KITTI 2011_09_26 P_rect_02, 1242x375), "drivingstereo" (half-size frames, 881x400,
// approximate intrinsics) or "fx,fy,cx,cy,W,H". Throws Error naming the value otherwise.
Camera camera_preset(const std::string& spec);
// Resizes the frame by `scale` (rounded) and the intrinsics alike.
Camera scale_camera(const Camera& camera, double scale);

using Rgb = std::array<float, 3>;  // linear colour, 0..1
struct Vec3 {
  double x = 0, y = 0, z = 0;
};

enum class Pattern : uint8_t {
  kPlain,    // colour with mild noise (boxes, poles, car bodies)
  kFacade,   // wall with a grid of windows (buildings)
  kGlass,    // dark reflective (car cabins)
  kTyre,     // near-black rubber
  kFoliage,  // strong green noise (tree crowns, hedges)
  kBark,     // brown vertical streaks (trunks)
};

struct Material {
  Rgb colour{0.5f, 0.5f, 0.5f};
  Pattern pattern = Pattern::kPlain;
  uint32_t seed = 0;              // texture variation
  float window_spacing_x = 3.0f;  // facade only: window grid pitch along the wall (m)
  float window_spacing_y = 3.2f;  // and between floors (m)
  float window_fraction = 0.5f;   // width of a window relative to its pitch
};

// Axis-aligned box (buildings, cars, crates, signs).
struct Box {
  Vec3 lo, hi;
  Material material;
};

// Vertical cylinder standing on [y0, y1] (poles, trunks).
struct Cylinder {
  double x = 0, z = 0, radius = 0.1, y0 = 0, y1 = 1;
  Material material;
};

// Axis-aligned ellipsoid (tree crowns, bushes).
struct Ellipsoid {
  Vec3 centre, radii;
  Material material;
};

// The flat ground Y = 0: road between road_left and road_right (X), sidewalks beside it,
// grass or gravel beyond. Lane lines every lane_width from road_left.
struct Ground {
  bool enabled = true;
  double road_left = -5.25, road_right = 5.25;
  double lane_width = 3.5;
  double sidewalk_left = 3.0, sidewalk_right = 3.0;  // widths
  bool markings = true;
  double dash_length = 3.0, dash_gap = 6.0, dash_phase = 0.0;
  Rgb asphalt{0.22f, 0.22f, 0.23f};
  Rgb sidewalk{0.55f, 0.53f, 0.50f};
  Rgb verge{0.25f, 0.35f, 0.15f};
  Rgb paint{0.9f, 0.9f, 0.88f};
  uint32_t seed = 0;
};

struct Lighting {
  Vec3 sun_direction{0.4, 0.8, 0.45};  // towards the sun; normalised by the renderer
  Rgb sun{1.0f, 0.95f, 0.85f};
  Rgb ambient{0.35f, 0.38f, 0.45f};
  Rgb sky_zenith{0.25f, 0.45f, 0.85f};
  Rgb sky_horizon{0.75f, 0.82f, 0.92f};
  double haze_distance = 400.0;  // metres; colour fades to the horizon colour
  bool shadows = true;
  float exposure = 1.0f;
  float noise = 0.012f;  // sensor noise (std of the linear value)
  float clouds = 0.3f;
};

struct Scene {
  Ground ground;
  Lighting lighting;
  std::vector<Box> boxes;
  std::vector<Cylinder> cylinders;
  std::vector<Ellipsoid> ellipsoids;
  uint64_t noise_seed = 0;  // per-frame sensor noise
};

// Which parts the generator places (tests switch everything off but the road).
struct SceneOptions {
  bool buildings = true;
  bool cars = true;
  bool clutter = true;  // crates, bins, signs
  bool poles = true;
  bool trees = true;
  bool markings = true;
  bool shadows = true;
};

// A street for a drive of `frames` frames: the camera starts at z = 0 and moves
// metres_per_frame along +Z per frame; objects stand from 30 m behind the start to 160 m past the
// last frame. Frame k sees the street from (camera_x, camera_height, k * metres_per_frame).
struct Street {
  Scene scene;
  double camera_x = 0.0;  // lateral position of the camera (its lane centre plus a jitter)
  double metres_per_frame = 1.0;
};
Street generate_street(uint64_t seed, const SceneOptions& options, int frames = 10);

// Where the camera is for one frame.
struct Pose {
  double x = 0.0;  // camera centre in world coordinates; its height is Camera::camera_height
  double z = 0.0;
};

struct Frame {
  Image8 rgb;                       // 3 channels
  Image16 depth;                    // metres x 256, 0 = invalid
  std::vector<float> depth_metres;  // exact z per pixel, 0 where nothing was hit
  Camera camera;
};

struct RenderOptions {
  double max_depth = 80.0;  // deeper points are stored as 0, like the real ground truth
  int threads = 1;          // rows are split among threads; the result does not depend on it
};
Frame render(const Scene& scene, const Camera& camera, const Pose& pose,
             const RenderOptions& options = {});

// LiDAR-like sparse depth: keeps only the pixels a 64-beam scanner at the camera centre would
// hit (beam elevations from +2 to -24.8 degrees, one sample per ~0.09 degrees of azimuth), as in
// KITTI's projected scans. Scan lines curve away from the centre like real ones.
Image16 lidar_sparsify(const Image16& dense, const Camera& camera, int beams = 64);
// Image row of beam `beam` (0 = highest) at column u; not rounded.
double lidar_row(const Camera& camera, int beam, int beams, double u);

struct SynthOptions {
  int count = 100;
  uint64_t seed = 0;
  Camera camera;  // already scaled
  bool sparse = false;
  DatasetKind layout = DatasetKind::kKitti;  // kitti or drivingstereo
  double val_fraction = 0.1;     // of drives
  double test_fraction = 0.1;
  int frames_per_drive = 10;
  int workers = 0;  // 0 = one per available core
  double max_depth = 80.0;
  int jpeg_quality = 95;
  SceneOptions scene;
};

// Frame `index` of the dataset that `options` describes (same result as the file written by
// write_dataset). `threads` splits its rows.
Frame generate_frame(const SynthOptions& options, int index, int threads = 1);

struct DatasetSummary {
  int train = 0, val = 0, test = 0;  // frames per split
  int drives = 0;
  double seconds = 0.0;
};
// Writes the whole dataset under `out` (layout, lists/{train,val,test}.txt, camera.json and a
// calibration file). Existing files of the same names are replaced.
DatasetSummary write_dataset(const std::filesystem::path& out, const SynthOptions& options);

}  // namespace glpdepth::synth
