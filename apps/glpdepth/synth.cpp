// `glpdepth synth`: renders synthetic street scenes with exact metric depth, written in the
// KITTI or DrivingStereo layout with list files, so that every other command can use them as if
// they were the real datasets.
#include <iomanip>
#include <iostream>
#include <optional>

#include "cli.h"
#include "flags.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"

namespace glpdepth::cli {
namespace {

struct SynthCli {
  std::string out;
  int count = 100;
  uint64_t seed = 0;
  std::string camera = "kitti";
  double scale = 1.0;
  bool sparse = false;
  std::optional<DatasetKind> layout;  // default follows the camera
  double val_fraction = 0.1;
  double test_fraction = 0.1;
  int frames_per_drive = 10;
  int workers = 4;
  double max_valid_depth = 80.0;
  int jpeg_quality = 95;
  bool no_shadows = false;
};

void run_synth(const SynthCli& o, const CommonOptions& common) {
  synth::SynthOptions options;
  options.camera = synth::scale_camera(synth::camera_preset(o.camera), o.scale);
  options.count = o.count;
  options.seed = o.seed;
  options.sparse = o.sparse;
  options.layout = o.layout                                   ? *o.layout
                   : options.camera.preset == "drivingstereo" ? DatasetKind::kDrivingStereo
                                                              : DatasetKind::kKitti;
  options.val_fraction = o.val_fraction;
  options.test_fraction = o.test_fraction;
  options.frames_per_drive = o.frames_per_drive;
  // Rendering uses plain threads, one frame each.
  options.workers = o.workers;
  options.max_depth = o.max_valid_depth;
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100)
    throw UsageError(cat("--jpeg_quality: must be 1 to 100, got ", o.jpeg_quality));
  options.jpeg_quality = o.jpeg_quality;
  options.scene.shadows = !o.no_shadows;
  if (o.out.empty()) throw UsageError("--output: the folder to write the dataset to is required");
  if (o.workers < 0) throw UsageError(cat("--workers ", o.workers, ": must be >= 0"));
  make_output_folder(o.out, "--output");

  const auto& c = options.camera;
  std::cout << "synth: " << o.count << " frames, " << c.width << "x" << c.height << ", fx "
            << std::fixed << std::setprecision(2) << c.fx << ", " << to_string(options.layout) << " layout"
            << (o.sparse ? ", sparse LiDAR-like depth" : "") << " -> " << o.out << "\n";
  synth::DatasetSummary s = synth::write_dataset(o.out, options);
  std::cout << "wrote " << s.train << " train, " << s.val << " val, " << s.test << " test frames ("
            << s.drives << " drives) in " << format_seconds(s.seconds) << ", "
            << std::setprecision(1) << (s.seconds > 0 ? o.count / s.seconds : 0.0) << " frames/s\n"
            << "lists: " << o.out << "/lists/{train,val,test}.txt, camera: " << o.out
            << "/camera.json\n";
}

void setup_synth(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<SynthCli>();
  add_output_flag(command, o->out, "folder of the generated dataset (required)", {"--out"});
  const char* g = "Scenes";
  add_option(command, "count", o->count, "number of frames", g)
      ->check(in_range(1, 1e7));
  add_seed_flag(command, o->seed);
  add_option(command, "camera", o->camera, "kitti, drivingstereo or fx,fy,cx,cy,W,H", g);
  add_option(command, "scale", o->scale, "resize factor of frame size and intrinsics (e.g. 0.25)", g)
      ->check(in_range(0.01, 4));
  add_flag(command, "sparse", o->sparse, "LiDAR-like depth: ~64 scan lines like KITTI's projected scans", g);
  add_dataset_option(command, "layout", [o](DatasetKind kind) { o->layout = kind; },
                     "kitti or drivingstereo (default: follows --camera)", g, "");
  add_val_fraction_flag(command, o->val_fraction);
  add_option(command, "test_fraction", o->test_fraction, "fraction of drives for lists/test.txt", section::kData)
      ->check(in_range(0, 1));
  add_option(command, "frames_per_drive", o->frames_per_drive, "consecutive frames along one street (splits keep drives whole)", g)
      ->check(in_range(1, 1e6));
  add_workers_flag(command, o->workers);
  add_option(command, "max_valid_depth", o->max_valid_depth, "deeper points are stored as 0 (invalid), like the real data", g)
      ->check(in_range(0.001, 1e4));
  add_option(command, "jpeg_quality", o->jpeg_quality, "quality of DrivingStereo-layout JPEGs", g)
      ->check(in_range(1, 100));
  add_flag(command, "no_shadows", o->no_shadows, "render without cast shadows", g);
  command.callback([o, &common] { run_synth(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"synth", "Generate synthetic driving scenes with exact metric depth", 70,
                  setup_synth});

}  // namespace glpdepth::cli
