#include "glpdepth/data/synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "common/temp_dir.h"
#include "data/synth/random.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth::synth {
namespace {
namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;

using TempDir = ::glpdepth::testing::TempDir;

SceneOptions nothing_but_road() {
  SceneOptions o;
  o.buildings = o.cars = o.clutter = o.poles = o.trees = o.markings = false;
  return o;
}

Camera small_kitti(double scale = 0.5) {
  return scale_camera(camera_preset("kitti"), scale);
}

TEST(SynthCamera, PresetsParsingAndScaling) {
  Camera k = camera_preset("kitti");
  EXPECT_EQ(k.width, 1242);
  EXPECT_EQ(k.height, 375);
  EXPECT_DOUBLE_EQ(k.fx, 721.5377);
  EXPECT_DOUBLE_EQ(k.cx, 609.5593);
  EXPECT_DOUBLE_EQ(k.cy, 172.854);
  EXPECT_DOUBLE_EQ(k.camera_height, 1.65);
  Camera ds = camera_preset("drivingstereo");
  EXPECT_EQ(ds.width, 881);
  EXPECT_EQ(ds.height, 400);
  EXPECT_NEAR(ds.fx, 879.0, 1.0);
  Camera c = camera_preset("500,510,320.5,240,640,480");
  EXPECT_EQ(c.preset, "custom");
  EXPECT_DOUBLE_EQ(c.fy, 510.0);
  EXPECT_DOUBLE_EQ(c.cx, 320.5);
  EXPECT_EQ(c.width, 640);
  EXPECT_EQ(c.height, 480);
  EXPECT_THROW(camera_preset("nuscenes"), UsageError);
  EXPECT_THROW(camera_preset("1,2,3"), UsageError);
  EXPECT_THROW(camera_preset("1,2,3,4,x,6"), UsageError);
  EXPECT_THROW(camera_preset("-1,2,3,4,5,6"), UsageError);

  Camera half = scale_camera(k, 0.5);
  EXPECT_EQ(half.width, 621);
  EXPECT_EQ(half.height, 188);  // 187.5 rounds up
  EXPECT_DOUBLE_EQ(half.fx, 721.5377 * 621.0 / 1242.0);
  EXPECT_DOUBLE_EQ(half.fy, 721.5377 * 188.0 / 375.0);
  // Pixel centres map to pixel centres: (cx + 0.5) scales with the size.
  EXPECT_DOUBLE_EQ(half.cx, (609.5593 + 0.5) * 0.5 - 0.5);
  EXPECT_THROW(scale_camera(k, 0.0), UsageError);
}

// The generator draws from mt19937_64, whose output the standard fixes, through its own helpers.
TEST(SynthRandom, UsesTheStandardEngineOutput) {
  Rng rng(5489);  // mt19937_64's default seed; first output 14514284786278117030
  EXPECT_EQ(rng.uniform(), static_cast<double>(14514284786278117030ull >> 11) * 0x1.0p-53);
  Rng a(7), b(7);
  for (int i = 0; i < 100; ++i) {
    double x = a.uniform(2.0, 3.0);
    EXPECT_GE(x, 2.0);
    EXPECT_LT(x, 3.0);
    int n = a.integer(-2, 2);
    EXPECT_GE(n, -2);
    EXPECT_LE(n, 2);
    b.uniform();
    b.bits();
  }
  EXPECT_EQ(a.bits(), b.bits());
}

// Flat road: depth at row v is h * fy / (v - cy) for every column, sky rows are 0.
TEST(SynthGeometry, RoadPlaneDepthMatchesClosedForm) {
  for (double scale : {0.5, 0.23}) {
    Camera camera = small_kitti(scale);
    Street street = generate_street(11, nothing_but_road(), 10);
    EXPECT_TRUE(street.scene.boxes.empty());
    EXPECT_TRUE(street.scene.cylinders.empty());
    EXPECT_TRUE(street.scene.ellipsoids.empty());
    RenderOptions options;
    options.max_depth = 80.0;
    Frame frame = render(street.scene, camera, Pose{street.camera_x, 3.7}, options);
    ASSERT_EQ(frame.depth.width, camera.width);
    ASSERT_EQ(frame.depth.height, camera.height);
    int valid_rows = 0;
    for (int v = 0; v < camera.height; ++v) {
      double expected = v > camera.cy ? camera.camera_height * camera.fy / (v - camera.cy) : 0.0;
      uint16_t expected_png = 0;
      if (expected > 0 && expected <= 80.0)
        expected_png = static_cast<uint16_t>(std::lround(expected * 256.0));
      valid_rows += expected_png != 0;
      for (int u = 0; u < camera.width; ++u) {
        size_t i = static_cast<size_t>(v) * camera.width + u;
        ASSERT_NEAR(frame.depth_metres[i], expected, 1e-5 * std::max(1.0, expected))
            << "pixel " << u << "," << v;
        ASSERT_EQ(frame.depth.pixels[i], expected_png) << "pixel " << u << "," << v;
      }
    }
    EXPECT_GT(valid_rows, camera.height / 3);
  }
}

// A box of known size at a known distance covers exactly the pixels whose rays pass through its
// front face, and all of them read that face's z (not the ray length).
TEST(SynthGeometry, BoxOfKnownSizeCoversExpectedPixels) {
  Camera camera = small_kitti(0.5);
  Scene scene;
  Box box;
  box.lo = {-1.03, 0.0, 20.0};
  box.hi = {1.21, 2.07, 24.0};
  scene.boxes.push_back(box);
  // A wide wall further away: off-axis pixels must read its plane's z, not the ray length.
  Box wall;
  wall.lo = {-60.0, 0.0, 45.0};
  wall.hi = {60.0, 8.0, 46.0};
  scene.boxes.push_back(wall);
  Frame frame = render(scene, camera, Pose{0.0, 0.0});

  int box_pixels = 0, wall_pixels = 0, umin = 1 << 30, umax = -1, vmin = 1 << 30, vmax = -1;
  for (int v = 0; v < camera.height; ++v) {
    for (int u = 0; u < camera.width; ++u) {
      double dx = (u - camera.cx) / camera.fx, dy = -(v - camera.cy) / camera.fy;
      // Where the ray meets the planes z = 20 and z = 45.
      double x20 = dx * 20.0, y20 = camera.camera_height + dy * 20.0;
      double x45 = dx * 45.0, y45 = camera.camera_height + dy * 45.0;
      bool on_box = x20 >= -1.03 && x20 <= 1.21 && y20 >= 0.0 && y20 <= 2.07;
      bool on_wall = !on_box && x45 >= -60 && x45 <= 60 && y45 >= 0.0 && y45 <= 8.0;
      double ground = dy < 0 ? camera.camera_height / -dy : 1e9;
      double expected = on_box ? 20.0 : on_wall ? 45.0 : (ground < 1e9 ? ground : 0.0);
      if (on_wall && ground < 45.0) expected = ground;  // road in front of the wall
      size_t i = static_cast<size_t>(v) * camera.width + u;
      ASSERT_NEAR(frame.depth_metres[i], expected, 1e-4 * std::max(1.0, expected))
          << "pixel " << u << "," << v;
      if (on_box) {
        ++box_pixels;
        EXPECT_EQ(frame.depth.pixels[i], 20 * 256);
        umin = std::min(umin, u);
        umax = std::max(umax, u);
        vmin = std::min(vmin, v);
        vmax = std::max(vmax, v);
      }
      if (expected == 45.0) {
        ++wall_pixels;
        EXPECT_EQ(frame.depth.pixels[i], 45 * 256);
      }
    }
  }
  // The projected size: 2.24 m wide and 2.07 m tall at 20 m.
  EXPECT_NEAR(umax - umin + 1, 2.24 * camera.fx / 20.0, 1.0);
  EXPECT_NEAR(vmax - vmin + 1, 2.07 * camera.fy / 20.0, 1.0);
  EXPECT_NEAR(box_pixels, (2.24 * camera.fx / 20.0) * (2.07 * camera.fy / 20.0),
              2.24 * camera.fx / 20.0 + 2.07 * camera.fy / 20.0 + 1);
  EXPECT_GT(wall_pixels, camera.width * 10);
}

TEST(SynthGeometry, CylinderAndEllipsoidSilhouettes) {
  Camera camera = small_kitti(0.5);
  Scene scene;
  scene.ground.enabled = false;
  Cylinder pole;
  pole.x = 0.0;
  pole.z = 10.0;
  pole.radius = 0.5;
  pole.y0 = 0.0;
  pole.y1 = 3.0;
  scene.cylinders.push_back(pole);
  Ellipsoid ball;
  ball.centre = {-4.0, 1.65, 15.0};
  ball.radii = {1.0, 1.0, 1.0};
  scene.ellipsoids.push_back(ball);
  Frame frame = render(scene, camera, Pose{0.0, 0.0});
  // Centre column of the pole, at camera height: the nearest point of the cylinder, z = 9.5.
  int u = static_cast<int>(std::lround(camera.cx)), v = static_cast<int>(std::lround(camera.cy));
  double dx = (u - camera.cx) / camera.fx;
  // Exact intersection of that ray with the circle x^2 + (z-10)^2 = 0.25.
  double a = dx * dx + 1, b = -20.0, c = 100.0 - 0.25;
  double t = (-b - std::sqrt(b * b - 4 * a * c)) / (2 * a);
  EXPECT_NEAR(frame.depth_metres[static_cast<size_t>(v) * camera.width + u], t, 1e-4);
  // A pixel near the sphere's centre: solve |t d - C| = 1 with C relative to the camera.
  int us = static_cast<int>(std::lround(camera.cx + camera.fx * -4.0 / 15.0));
  double rx = (us - camera.cx) / camera.fx, ry = -(v - camera.cy) / camera.fy;
  double cx = -4.0, cy = 0.0, cz = 15.0;
  double aa = rx * rx + ry * ry + 1, bb = -2 * (rx * cx + ry * cy + cz),
         cc = cx * cx + cy * cy + cz * cz - 1.0;
  double ts = (-bb - std::sqrt(bb * bb - 4 * aa * cc)) / (2 * aa);
  EXPECT_NEAR(ts, 14.0, 0.1);
  EXPECT_NEAR(frame.depth_metres[static_cast<size_t>(v) * camera.width + us], ts, 1e-4);
  // Above the pole's top and with no ground: nothing, depth 0.
  EXPECT_EQ(frame.depth.at(u, 0), 0);
  EXPECT_EQ(frame.depth.at(u, camera.height - 1), 0);  // no ground
}

TEST(SynthFrames, DeterministicAndThreadIndependent) {
  SynthOptions options;
  options.camera = small_kitti(0.2);
  options.seed = 42;
  Frame a = generate_frame(options, 13, 1);
  Frame b = generate_frame(options, 13, 3);
  EXPECT_EQ(a.rgb.pixels, b.rgb.pixels);
  EXPECT_EQ(a.depth.pixels, b.depth.pixels);
  Frame again = generate_frame(options, 13, 2);
  EXPECT_EQ(a.rgb.pixels, again.rgb.pixels);
  // Another frame of the same drive moves the camera; another seed is another street.
  Frame next = generate_frame(options, 14, 1);
  EXPECT_NE(a.depth.pixels, next.depth.pixels);
  options.seed = 43;
  Frame other = generate_frame(options, 13, 1);
  EXPECT_NE(a.rgb.pixels, other.rgb.pixels);
  EXPECT_NE(a.depth.pixels, other.depth.pixels);
}

// Real street frames: objects exist, depth is consistent with the float depth, sky is 0, and the
// scene is not a single colour.
TEST(SynthFrames, StreetFramesHaveStructure) {
  SynthOptions options;
  options.camera = small_kitti(0.25);
  options.seed = 5;
  for (int index : {0, 11, 27}) {
    Frame f = generate_frame(options, index, 2);
    size_t n = f.depth.pixels.size(), valid = 0, sky = 0, near = 0;
    for (size_t i = 0; i < n; ++i) {
      float z = f.depth_metres[i];
      if (z == 0.0f) {
        ++sky;
        EXPECT_EQ(f.depth.pixels[i], 0);
      } else if (z > 80.0f) {
        EXPECT_EQ(f.depth.pixels[i], 0);
      } else {
        ++valid;
        near += z < 20.0f;
        // depth_metres is float: allow its rounding on top of the 1/256 m quantisation.
        EXPECT_NEAR(f.depth.pixels[i], z * 256.0, 0.5 + 1e-6 * z * 256.0);
      }
    }
    EXPECT_GT(valid, n * 2 / 5);
    EXPECT_GT(near, n / 10);
    // Sky can only be above the horizon: every pixel below it sees the road or an object.
    for (int v = static_cast<int>(std::ceil(f.camera.cy + 1e-9)); v < f.camera.height; ++v)
      for (int u = 0; u < f.camera.width; ++u)
        ASSERT_GT(f.depth_metres[static_cast<size_t>(v) * f.camera.width + u], 0.0f);
    double mean = 0, var = 0;
    for (uint8_t p : f.rgb.pixels) mean += p;
    mean /= f.rgb.pixels.size();
    for (uint8_t p : f.rgb.pixels) var += (p - mean) * (p - mean);
    EXPECT_GT(std::sqrt(var / f.rgb.pixels.size()), 15.0);
    (void)sky;
  }
}

// LiDAR-like depth: at the centre column, one valid row per beam that hits the road within
// 80 m, i.e. as many rows as beams of elevation below -atan(h / 80) fall inside the image.
TEST(SynthSparse, ScanRowsLikeA64BeamLidar) {
  Camera camera = camera_preset("kitti");
  Street street = generate_street(1, nothing_but_road(), 10);
  Frame dense = render(street.scene, camera, Pose{0.0, 0.0});
  Image16 sparse = lidar_sparsify(dense.depth, camera);
  int u = static_cast<int>(std::lround(camera.cx));
  std::set<int> expected_rows;
  for (int beam = 0; beam < 64; ++beam) {
    double elevation = (2.0 - 26.8 * beam / 63.0) * kPi / 180.0;
    double x = (u - camera.cx) / camera.fx;
    int v = static_cast<int>(
        std::lround(camera.cy - camera.fy * std::tan(elevation) * std::sqrt(1 + x * x)));
    if (v < 0 || v >= camera.height || v <= camera.cy) continue;
    double z = camera.camera_height * camera.fy / (v - camera.cy);
    if (z <= 80.0) expected_rows.insert(v);
  }
  std::set<int> rows;
  for (int v = 0; v < camera.height; ++v)
    if (sparse.at(u, v) != 0) rows.insert(v);
  EXPECT_EQ(rows, expected_rows);
  EXPECT_GT(rows.size(), 25u);
  EXPECT_LE(rows.size(), 64u);
  size_t dense_valid = 0, sparse_valid = 0;
  for (size_t i = 0; i < sparse.pixels.size(); ++i) {
    dense_valid += dense.depth.pixels[i] != 0;
    if (sparse.pixels[i] != 0) {
      ++sparse_valid;
      EXPECT_EQ(sparse.pixels[i], dense.depth.pixels[i]);
    }
  }
  EXPECT_LT(sparse_valid, dense_valid / 4);
  EXPECT_GT(sparse_valid, static_cast<size_t>(camera.width) * 20);

  SynthOptions options;
  options.camera = small_kitti(0.25);
  options.sparse = true;
  Frame f = generate_frame(options, 2);
  options.sparse = false;
  Frame g = generate_frame(options, 2);
  size_t kept = 0;
  for (size_t i = 0; i < f.depth.pixels.size(); ++i) {
    if (f.depth.pixels[i] != 0) {
      ++kept;
      EXPECT_EQ(f.depth.pixels[i], g.depth.pixels[i]);
    }
  }
  EXPECT_GT(kept, 0u);
  EXPECT_EQ(f.rgb.pixels, g.rgb.pixels);
}

std::vector<std::pair<std::string, std::string>> read_list(const fs::path& file) {
  std::vector<std::pair<std::string, std::string>> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto space = line.find(' ');
    EXPECT_NE(space, std::string::npos) << line;
    EXPECT_EQ(line.find(' ', space + 1), std::string::npos) << line;
    lines.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return lines;
}

TEST(SynthDataset, KittiLayoutListsCalibrationAndDeterminism) {
  TempDir dir;
  SynthOptions options;
  options.camera = small_kitti(0.1);
  options.count = 23;
  options.frames_per_drive = 5;
  options.val_fraction = 0.2;
  options.test_fraction = 0.2;
  options.seed = 9;
  options.workers = 2;
  DatasetSummary summary = write_dataset(dir.path() / "a", options);
  EXPECT_EQ(summary.drives, 5);
  EXPECT_EQ(summary.train, 15);
  EXPECT_EQ(summary.val, 5);
  EXPECT_EQ(summary.test, 3);  // the last drive has 23 - 20 frames

  fs::path root = dir.path() / "a";
  auto train = read_list(root / "lists" / "train.txt");
  auto val = read_list(root / "lists" / "val.txt");
  auto test = read_list(root / "lists" / "test.txt");
  ASSERT_EQ(train.size(), 15u);
  ASSERT_EQ(val.size(), 5u);
  ASSERT_EQ(test.size(), 3u);
  EXPECT_EQ(train[0].first,
            "/raw_data/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000000.png");
  EXPECT_EQ(train[0].second,
            "/data_depth_annotated/train/2011_09_26_drive_0001_sync/proj_depth/groundtruth/"
            "image_02/0000000000.png");
  EXPECT_EQ(test[2].first,
            "/raw_data/2011_09_26/2011_09_26_drive_0005_sync/image_02/data/0000000002.png");
  std::regex image_re(
      R"(/raw_data/2011_09_26/2011_09_26_drive_(\d{4})_sync/image_02/data/(\d{10})\.png)");
  std::regex depth_re(
      R"(/data_depth_annotated/(train|val)/2011_09_26_drive_(\d{4})_sync/proj_depth/groundtruth/image_02/(\d{10})\.png)");
  std::set<std::string> drives_per_split[3];
  int split = 0;
  for (const auto* list : {&train, &val, &test}) {
    for (const auto& [image, depth] : *list) {
      std::smatch mi, md;
      ASSERT_TRUE(std::regex_match(image, mi, image_re)) << image;
      ASSERT_TRUE(std::regex_match(depth, md, depth_re)) << depth;
      EXPECT_EQ(mi[1], md[2]);
      EXPECT_EQ(mi[2], md[3]);
      EXPECT_EQ(md[1], split == 2 ? "val" : "train");
      drives_per_split[split].insert(mi[1]);
      Image8 rgb = read_image(root / image.substr(1));
      Image16 d = read_png16(root / depth.substr(1));
      EXPECT_EQ(rgb.width, options.camera.width);
      EXPECT_EQ(rgb.height, options.camera.height);
      EXPECT_EQ(d.width, options.camera.width);
      EXPECT_EQ(d.height, options.camera.height);
    }
    ++split;
  }
  // No drive is in two splits.
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      for (const auto& d : drives_per_split[a]) EXPECT_EQ(drives_per_split[b].count(d), 0u);

  // The written depth is the generated frame, losslessly; the RGB PNG too.
  Frame f = generate_frame(options, 7);
  EXPECT_EQ(read_png16(root / train[7].second.substr(1)).pixels, f.depth.pixels);
  EXPECT_EQ(read_image(root / train[7].first.substr(1)).pixels, f.rgb.pixels);

  // Calibration like KITTI's calib_cam_to_cam.txt.
  std::string calib = read_file_bytes(root / "raw_data" / "2011_09_26" / "calib_cam_to_cam.txt");
  std::istringstream lines(calib);
  std::string line;
  bool found_p = false, found_s = false;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    std::vector<double> values;
    double x;
    while (in >> x) values.push_back(x);
    if (key == "P_rect_02:") {
      found_p = true;
      ASSERT_EQ(values.size(), 12u);
      EXPECT_NEAR(values[0], options.camera.fx, 1e-4 * options.camera.fx);
      EXPECT_NEAR(values[2], options.camera.cx, 1e-4 * options.camera.cx);
      EXPECT_NEAR(values[5], options.camera.fy, 1e-4 * options.camera.fy);
      EXPECT_NEAR(values[6], options.camera.cy, 1e-4 * options.camera.cy);
      EXPECT_EQ(values[10], 1.0);
    }
    if (key == "S_rect_02:") {
      found_s = true;
      ASSERT_EQ(values.size(), 2u);
      EXPECT_EQ(values[0], options.camera.width);
      EXPECT_EQ(values[1], options.camera.height);
    }
  }
  EXPECT_TRUE(found_p);
  EXPECT_TRUE(found_s);

  auto camera = nlohmann::json::parse(read_file_bytes(root / "camera.json"));
  EXPECT_DOUBLE_EQ(camera["fx"].get<double>(), options.camera.fx);
  EXPECT_DOUBLE_EQ(camera["cy"].get<double>(), options.camera.cy);
  EXPECT_EQ(camera["width"].get<int>(), options.camera.width);
  EXPECT_EQ(camera["height"].get<int>(), options.camera.height);
  EXPECT_DOUBLE_EQ(camera["camera_height"].get<double>(), 1.65);
  EXPECT_EQ(camera["preset"].get<std::string>(), "kitti");
  EXPECT_EQ(camera["seed"].get<uint64_t>(), 9u);
  EXPECT_EQ(camera["count"].get<int>(), 23);
  EXPECT_EQ(camera["sparse"].get<bool>(), false);

  // Same options, one worker: byte-identical files.
  options.workers = 1;
  write_dataset(dir.path() / "b", options);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    fs::path rel = fs::relative(entry.path(), root);
    ASSERT_TRUE(fs::exists(dir.path() / "b" / rel)) << rel;
    EXPECT_EQ(read_file_bytes(entry.path()), read_file_bytes(dir.path() / "b" / rel)) << rel;
  }
}

TEST(SynthDataset, DrivingStereoLayout) {
  TempDir dir;
  SynthOptions options;
  options.camera = scale_camera(camera_preset("drivingstereo"), 0.1);
  options.layout = DatasetKind::kDrivingStereo;
  options.count = 12;
  options.frames_per_drive = 3;
  options.val_fraction = 0.25;
  options.test_fraction = 0.25;
  options.sparse = true;
  write_dataset(dir.path(), options);
  auto train = read_list(dir.path() / "lists" / "train.txt");
  auto val = read_list(dir.path() / "lists" / "val.txt");
  auto test = read_list(dir.path() / "lists" / "test.txt");
  EXPECT_EQ(train.size(), 6u);
  EXPECT_EQ(val.size(), 3u);
  EXPECT_EQ(test.size(), 3u);
  std::regex train_re(
      R"(/train-left-image/(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)/(\1_\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3})\.jpg)");
  std::regex train_depth_re(
      R"(/train-depth-map/(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)/(\1_\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3})\.png)");
  for (const auto* list : {&train, &val}) {
    for (const auto& [image, depth] : *list) {
      std::smatch a, b;
      ASSERT_TRUE(std::regex_match(image, a, train_re)) << image;
      ASSERT_TRUE(std::regex_match(depth, b, train_depth_re)) << depth;
      EXPECT_EQ(a[2], b[2]);
    }
  }
  EXPECT_EQ(
      train[0].first,
      "/train-left-image/2018-07-09-16-11-56/2018-07-09-16-11-56_2018-07-09-16-12-00-000.jpg");
  std::regex test_re(
      R"(/test-left-image/left-image-half-size/(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d_[-\d]+)\.jpg)");
  std::regex test_depth_re(
      R"(/test-depth-map/depth-map-half-size/(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d_[-\d]+)\.png)");
  std::set<std::string> stems;
  for (const auto* list : {&train, &val, &test}) {
    for (const auto& [image, depth] : *list) {
      if (list == &test) {
        std::smatch a, b;
        ASSERT_TRUE(std::regex_match(image, a, test_re)) << image;
        ASSERT_TRUE(std::regex_match(depth, b, test_depth_re)) << depth;
        EXPECT_EQ(a[1], b[1]);
      }
      EXPECT_TRUE(stems.insert(image).second) << "duplicate " << image;
      Image8 rgb = read_image(dir.path() / image.substr(1));
      EXPECT_EQ(rgb.width, 88);
      EXPECT_EQ(rgb.height, 40);
      Image16 d = read_png16(dir.path() / depth.substr(1));
      EXPECT_EQ(d.width, 88);
      EXPECT_EQ(d.height, 40);
    }
  }
  auto camera = nlohmann::json::parse(read_file_bytes(dir.path() / "camera.json"));
  EXPECT_EQ(camera["preset"].get<std::string>(), "drivingstereo");
  EXPECT_EQ(camera["sparse"].get<bool>(), true);
  EXPECT_TRUE(fs::exists(dir.path() / "calib" / "half-image-calib" / "2018-07-09-16-11-56.txt"));
}

TEST(SynthDataset, RejectsBadOptions) {
  TempDir dir;
  SynthOptions options;
  options.camera = small_kitti(0.05);
  options.count = 0;
  EXPECT_THROW(write_dataset(dir.path(), options), UsageError);
  options.count = 3;
  options.layout = DatasetKind::kNyuDepthV2;
  EXPECT_THROW(write_dataset(dir.path(), options), UsageError);
  options.layout = DatasetKind::kKitti;
  options.val_fraction = 0.6;
  options.test_fraction = 0.5;
  EXPECT_THROW(write_dataset(dir.path(), options), UsageError);
}

}  // namespace
}  // namespace glpdepth::synth
