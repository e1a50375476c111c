// Synthetic datasets on disk, in the folder layouts and list formats of KITTI and DrivingStereo,
// so that the loaders cannot tell them from the real ones.
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "glpdepth/data/synth.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/threads.h"
#include "random.h"

namespace glpdepth::synth {
namespace fs = std::filesystem;

namespace {

struct Plan {
  int drives = 0;
  int train_drives = 0, val_drives = 0;
  Split split_of(int drive) const {
    if (drive < train_drives) return Split::kTrain;
    if (drive < train_drives + val_drives) return Split::kVal;
    return Split::kTest;
  }
};

void validate(const SynthOptions& o) {
  if (o.count < 1) throw UsageError(cat("--count: must be at least 1, got ", o.count));
  if (o.frames_per_drive < 1)
    throw UsageError(cat("--frames_per_drive: must be at least 1, got ", o.frames_per_drive));
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    throw UsageError(cat("--val_fraction: must be in [0, 1), got ", o.val_fraction));
  if (!(o.test_fraction >= 0 && o.test_fraction < 1))
    throw UsageError(cat("--test_fraction: must be in [0, 1), got ", o.test_fraction));
  if (o.val_fraction + o.test_fraction >= 1)
    throw UsageError(cat("--val_fraction + --test_fraction must be below 1, got ",
                         o.val_fraction + o.test_fraction));
  if (o.layout != DatasetKind::kKitti && o.layout != DatasetKind::kDrivingStereo)
    throw UsageError(cat("layout ", to_string(o.layout), ": synthetic sets are written as kitti or "
                         "drivingstereo"));
  if (!(o.max_depth > 0 && o.max_depth * 256.0 <= 65535.0))
    throw UsageError(cat("--max_depth: must be in (0, 255.99] to fit metres x 256 in 16 bits, got ",
                         o.max_depth));
}

// Whole drives go to one split, so no street is seen in two splits. Train first, then val, then
// test; a non-zero fraction gets at least one drive when there are enough drives.
Plan make_plan(const SynthOptions& o) {
  Plan plan;
  plan.drives = (o.count + o.frames_per_drive - 1) / o.frames_per_drive;
  auto share = [&](double fraction) {
    if (fraction <= 0) return 0;
    int n = static_cast<int>(std::lround(fraction * plan.drives));
    return plan.drives >= 3 ? std::max(1, n) : n;
  };
  int val = share(o.val_fraction), test = share(o.test_fraction);
  while (val + test >= plan.drives && val + test > 0) {
    if (val >= test)
      --val;
    else
      --test;
  }
  plan.val_drives = val;
  plan.train_drives = plan.drives - val - test;
  return plan;
}

// "2018-07-09-16-11-56" style names; the base is the first sequence of DrivingStereo's train set.
std::string ds_time(int64_t seconds_after_base, int millis) {
  std::tm base{};
  base.tm_year = 2018 - 1900;
  base.tm_mon = 6;
  base.tm_mday = 9;
  base.tm_hour = 16;
  base.tm_min = 11;
  base.tm_sec = 56;
  std::time_t t = timegm(&base) + static_cast<std::time_t>(seconds_after_base);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream out;
  out << std::setfill('0') << std::setw(4) << tm.tm_year + 1900 << '-' << std::setw(2)
      << tm.tm_mon + 1 << '-' << std::setw(2) << tm.tm_mday << '-' << std::setw(2) << tm.tm_hour
      << '-' << std::setw(2) << tm.tm_min << '-' << std::setw(2) << tm.tm_sec;
  if (millis >= 0) out << '-' << std::setw(3) << millis;
  return out.str();
}

struct FramePaths {
  std::string image, depth;  // relative to the dataset root, starting with '/'
};

constexpr const char* kKittiDate = "2011_09_26";

FramePaths frame_paths(const SynthOptions& o, const Plan& plan, int index) {
  int drive = index / o.frames_per_drive;
  int k = index % o.frames_per_drive;
  Split split = plan.split_of(drive);
  std::ostringstream image, depth;
  if (o.layout == DatasetKind::kKitti) {
    std::ostringstream name;
    name << kKittiDate << "_drive_" << std::setfill('0') << std::setw(4) << drive + 1 << "_sync";
    std::ostringstream frame;
    frame << std::setfill('0') << std::setw(10) << k << ".png";
    // Like the real annotated depth: held-out (test) drives under val/, the others under train/
    // (make-lists reads it the same way).
    image << "/raw_data/" << kKittiDate << "/" << name.str() << "/image_02/data/" << frame.str();
    depth << "/data_depth_annotated/" << (split == Split::kTest ? "val" : "train") << "/"
          << name.str() << "/proj_depth/groundtruth/image_02/" << frame.str();
  } else {
    // Sequences about half an hour apart; frames 100 ms apart, starting a few seconds in.
    int64_t start = static_cast<int64_t>(drive) * 1837;
    std::string seq = ds_time(start, -1);
    int64_t ms = 4000 + static_cast<int64_t>(k) * 100 + (drive * 37) % 100;
    std::string stem = seq + "_" + ds_time(start + ms / 1000, static_cast<int>(ms % 1000));
    if (split == Split::kTest) {
      image << "/test-left-image/left-image-half-size/" << stem << ".jpg";
      depth << "/test-depth-map/depth-map-half-size/" << stem << ".png";
    } else {
      image << "/train-left-image/" << seq << "/" << stem << ".jpg";
      depth << "/train-depth-map/" << seq << "/" << stem << ".png";
    }
  }
  return {image.str(), depth.str()};
}

std::string matrix_line(const char* name, const std::vector<double>& values) {
  std::ostringstream out;
  out << name << ":" << std::scientific << std::setprecision(6);
  for (double v : values) out << ' ' << v;
  out << '\n';
  return out.str();
}

// The lines of KITTI's calib_cam_to_cam.txt that matter for rectified images; camera 2 sits
// 0.06 m left of camera 0 as in the real rig, so P_rect_02 carries fx * 0.06 in its first row.
std::string kitti_calibration(const Camera& c) {
  std::string text = "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n";
  std::vector<double> size{static_cast<double>(c.width), static_cast<double>(c.height)};
  std::vector<double> identity{1, 0, 0, 0, 1, 0, 0, 0, 1};
  text += matrix_line("S_rect_00", size);
  text += matrix_line("R_rect_00", identity);
  text += matrix_line("P_rect_00", {c.fx, 0, c.cx, 0, 0, c.fy, c.cy, 0, 0, 0, 1, 0});
  text += matrix_line("S_rect_02", size);
  text += matrix_line("R_rect_02", identity);
  text += matrix_line("P_rect_02", {c.fx, 0, c.cx, c.fx * 0.06, 0, c.fy, c.cy, 0, 0, 0, 1, 0});
  text += matrix_line("S_rect_03", size);
  text += matrix_line("R_rect_03", identity);
  text += matrix_line("P_rect_03", {c.fx, 0, c.cx, -c.fx * 0.48, 0, c.fy, c.cy, 0, 0, 0, 1, 0});
  return text;
}

// DrivingStereo's calib/half-image-calib/<seq>.txt names the left camera 101.
std::string drivingstereo_calibration(const Camera& c) {
  std::string text;
  text += matrix_line("S_rect_101", {static_cast<double>(c.width), static_cast<double>(c.height)});
  text += matrix_line("P_rect_101", {c.fx, 0, c.cx, 0, 0, c.fy, c.cy, 0, 0, 0, 1, 0});
  return text;
}

// Dataset files can be regenerated at will, so they are renamed into place (no reader sees a
// partial file) without the fsync that write_file_atomic pays per file: thousands of fsyncs
// would dominate the run time.
void write_renamed(const fs::path& path, const std::string& bytes) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  check(!ec, "cannot create folder ", path.parent_path().string(), ": ", ec.message());
  fs::path temporary =
      path.parent_path() / cat(".", path.filename().string(), ".tmp.", ::getpid(), ".", counter++);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot open ", temporary.string(), " for writing: ", std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out.good()) {
      fs::remove(temporary, ec);
      throw Error(cat("write failed for ", path.string(), " (disk full?)"));
    }
  }
  fs::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw Error(
        cat("cannot rename ", temporary.string(), " to ", path.string(), ": ", ec.message()));
  }
}

}  // namespace

Frame generate_frame(const SynthOptions& options, int index, int threads) {
  check(index >= 0, "synthetic frame index must be non-negative, got ", index);
  check(options.frames_per_drive >= 1, "frames_per_drive must be at least 1");
  int drive = index / options.frames_per_drive;
  int k = index % options.frames_per_drive;
  // The street depends on the drive only (not on --count), so a frame is the same in any set.
  Street street = generate_street(derive_seed(options.seed, static_cast<uint64_t>(drive)),
                                  options.scene, options.frames_per_drive);
  street.scene.noise_seed =
      derive_seed(options.seed, 0x100000000ull + static_cast<uint64_t>(index));
  Pose pose{street.camera_x, k * street.metres_per_frame};
  RenderOptions render_options;
  render_options.max_depth = options.max_depth;
  render_options.threads = threads;
  Frame frame = render(street.scene, options.camera, pose, render_options);
  if (options.sparse) frame.depth = lidar_sparsify(frame.depth, options.camera);
  return frame;
}

DatasetSummary write_dataset(const fs::path& out, const SynthOptions& options) {
  validate(options);
  auto started = std::chrono::steady_clock::now();
  Plan plan = make_plan(options);
  std::vector<FramePaths> paths;
  for (int i = 0; i < options.count; ++i) paths.push_back(frame_paths(options, plan, i));

  int workers = options.workers > 0 ? options.workers : available_cores();
  workers = std::clamp(workers, 1, options.count);
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (int i = next++; i < options.count && !failed; i = next++) {
      try {
        Frame frame = generate_frame(options, i, 1);
        fs::path image = out / paths[static_cast<size_t>(i)].image.substr(1);
        fs::path depth = out / paths[static_cast<size_t>(i)].depth.substr(1);
        write_renamed(image,
                      encode_image(frame.rgb, image.extension().string(), options.jpeg_quality));
        write_renamed(depth, encode_png16(frame.depth));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  DatasetSummary summary;
  summary.drives = plan.drives;
  std::string lists[3];
  for (int i = 0; i < options.count; ++i) {
    Split split = plan.split_of(i / options.frames_per_drive);
    lists[static_cast<int>(split)] +=
        paths[static_cast<size_t>(i)].image + " " + paths[static_cast<size_t>(i)].depth + "\n";
    (split == Split::kTrain ? summary.train : split == Split::kVal ? summary.val : summary.test)++;
  }
  write_bytes_atomic(out / "lists" / "train.txt", lists[0]);
  write_bytes_atomic(out / "lists" / "val.txt", lists[1]);
  write_bytes_atomic(out / "lists" / "test.txt", lists[2]);

  const Camera& c = options.camera;
  if (options.layout == DatasetKind::kKitti) {
    write_bytes_atomic(out / "raw_data" / kKittiDate / "calib_cam_to_cam.txt",
                       kitti_calibration(c));
  } else {
    std::string calib = drivingstereo_calibration(c);
    for (int d = 0; d < plan.drives; ++d)
      write_bytes_atomic(
          out / "calib" / "half-image-calib" / (ds_time(int64_t{d} * 1837, -1) + ".txt"), calib);
  }
  nlohmann::json camera = {
      {"fx", c.fx},
      {"fy", c.fy},
      {"cx", c.cx},
      {"cy", c.cy},
      {"width", c.width},
      {"height", c.height},
      {"camera_height", c.camera_height},
      {"preset", c.preset},
      {"seed", options.seed},
      {"count", options.count},
      {"sparse", options.sparse},
      {"layout", to_string(options.layout)},
      {"frames_per_drive", options.frames_per_drive},
      {"max_depth", options.max_depth},
      {"depth_scale", 256.0},
      {"drives", plan.drives},
      {"frames", {{"train", summary.train}, {"val", summary.val}, {"test", summary.test}}},
      {"generator", "glpdepth synth"},
  };
  write_bytes_atomic(out / "camera.json", camera.dump(2) + "\n");
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace glpdepth::synth
