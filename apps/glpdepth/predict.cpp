// `glpdepth predict`: metric depth for images of any size (never resized, spec B22; the model
// pads to a multiple of 32 internally and crops back).
//
// Batching: every input is probed first (header only), which also catches missing or
// unreadable files before anything is written. Images are then grouped by size, in order of
// first appearance, and each group runs in batches of --batch_size; so mixed sizes never
// need resizing and same-size sets get full batches. Decoding runs ahead of the network and
// writing behind it, each on its own thread (run_pipeline).
//
// Outputs per image, into --output (each file written atomically):
//   <stem>_depth.png    colour map over the fixed range [vis_min, vis_max or max_depth]
//   <stem>_depth16.png  uint16, metres x 256 (the eval-pngs format)  (--save_png16)
//   <stem>_depth.npy    float32 metres, (H, W)          (--save_npy)
//   <stem>_panel.png    image | depth | colour bar      (--save_panel)
//   <stem>.ply          point cloud coloured by the image (--save_ply; needs intrinsics)
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>

#include "cli.h"
#include "flags.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/infer/pipeline.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"

namespace glpdepth::cli {
namespace {
namespace fs = std::filesystem;

struct PredictCli {
  std::vector<std::string> inputs;
  std::string output;
  std::string ckpt;
  bool random_weights = false;
  PredictorOptions predictor;
  int64_t batch_size = 0;
  VisualizationFlags vis;
  bool save_png16 = false;
  bool save_npy = false;
  bool save_panel = false;
  bool save_ply = false;
  std::string intrinsics;
  std::string calib;
  std::string calib_camera = "02";
  double ply_max_depth = 0;
  bool overwrite = false;
};

// Stem of the output files: the dataset's output name without its extension.
std::string output_stem(const std::string& name) { return fs::path(name).stem().string(); }

// Images grouped by size, in order of first appearance, in batches of at most `batch_size`.
// Every input is probed (header only) first, which catches missing or unreadable files before
// anything is written.
std::vector<std::vector<int64_t>> plan_batches(const Dataset& dataset, int64_t batch_size,
                                               size_t* sizes) {
  std::map<std::pair<int, int>, std::vector<int64_t>> by_size;
  std::vector<std::pair<int, int>> size_order;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const fs::path path = dataset.image_file(i);
    ImageInfo info;
    try {
      info = probe_image(path);
    } catch (const std::exception& e) {
      throw Error(cat("input image ", path.string(), ": ", e.what()));
    }
    check(info.width > 0 && info.height > 0, "input image ", path.string(), ": empty image");
    auto key = std::make_pair(info.height, info.width);
    if (by_size.find(key) == by_size.end()) size_order.push_back(key);
    by_size[key].push_back(i);
  }
  std::vector<std::vector<int64_t>> batches;
  for (const auto& key : size_order) {
    const auto& indices = by_size[key];
    for (size_t start = 0; start < indices.size(); start += static_cast<size_t>(batch_size)) {
      const size_t end = std::min(indices.size(), start + static_cast<size_t>(batch_size));
      batches.emplace_back(indices.begin() + start, indices.begin() + end);
    }
  }
  *sizes = size_order.size();
  return batches;
}

struct OutputSpec {
  fs::path dir;
  Colormap colormap;
  double vis_min, vis_max;
  bool png16, npy, panel, ply;
  double ply_max_depth;
};

void write_outputs(const OutputSpec& spec, const Sample& s, const torch::Tensor& depth) {
  const std::string stem = output_stem(s.name);
  write_image(spec.dir / (stem + "_depth.png"), colorize(depth, spec.colormap, spec.vis_min, spec.vis_max));
  if (spec.png16) write_depth_png16(spec.dir / (stem + "_depth16.png"), depth, 256.0);
  if (spec.npy) write_npy(spec.dir / (stem + "_depth.npy"), depth);
  if (spec.panel) {
    PanelOptions panel;
    panel.colormap = spec.colormap;
    panel.min_depth = spec.vis_min;
    panel.max_depth = spec.vis_max;
    write_image(spec.dir / (stem + "_panel.png"), render_panel(s.rgb, depth, panel));
  }
  if (spec.ply) {
    check(s.intrinsics.known(), "input image ", s.source, ": no camera intrinsics for --save_ply");
    PlyOptions ply;
    ply.max_depth = spec.ply_max_depth;
    write_ply(spec.dir / (stem + ".ply"), depth, &s.rgb, s.intrinsics, ply);
  }
}

void run_predict(const PredictCli& o, const CommonOptions& common) {
  const int threads = apply_threads(common);
  PredictorOptions predictor_options = o.predictor;
  predictor_options.device = resolve_device(common.device);
  if (o.inputs.empty()) throw UsageError("no inputs: give images, folders, globs or list files");
  check_weights_choice(o.ckpt, o.random_weights, "predict");
  if (o.batch_size < 0) throw UsageError("--batch_size must be >= 0 (0: one image per forward)");
  if (!o.intrinsics.empty() && !o.calib.empty())
    throw UsageError("--intrinsics and --calib are alternatives; give one");

  std::optional<Intrinsics> intrinsics;
  if (!o.intrinsics.empty()) intrinsics = load_intrinsics(o.intrinsics);
  if (!o.calib.empty()) intrinsics = read_kitti_calib(o.calib, o.calib_camera);
  if (o.save_ply && !intrinsics)
    throw UsageError("--save_ply needs camera intrinsics: --intrinsics fx,fy,cx,cy or --calib FILE");

  DatasetOptions data;
  data.dataset = "folder";
  data.inputs = o.inputs;
  data.intrinsics = intrinsics;
  std::unique_ptr<Dataset> dataset = make_dataset(data);
  const int64_t count = dataset->size();
  check(count > 0, "no input images");
  size_t sizes = 0;
  const auto batches = plan_batches(*dataset, std::max<int64_t>(1, o.batch_size), &sizes);

  DepthPredictor predictor = open_predictor(o.ckpt, o.random_weights, predictor_options, "predict");
  predictor.require_intrinsics(intrinsics.has_value(),
                               o.ckpt.empty() ? std::string("--canonical_focal") : o.ckpt);
  const double max_depth = predictor.model_options().max_depth;
  OutputSpec spec{fs::path(output_or(o.output, "./predictions")), o.vis.colormap, o.vis.vis_min,
                  o.vis.vis_max > 0 ? o.vis.vis_max : max_depth, o.save_png16, o.save_npy,
                  o.save_panel, o.save_ply, o.ply_max_depth};
  if (!(spec.vis_max > spec.vis_min))
    throw UsageError(cat("--vis_max (", spec.vis_max, ") must exceed --vis_min (", spec.vis_min, ")"));
  spec.dir = claim_folder(spec.dir, o.overwrite, "predict");
  std::cerr << "predict: " << count << " images (" << sizes << " sizes, " << batches.size()
            << " batches), MiT-" << predictor.model_options().encoder << " ("
            << predictor.source().description << (o.ckpt.empty() ? "" : " " + o.ckpt) << "), "
            << predictor.describe_runtime() << ", " << threads << " threads"
            << (predictor_options.flip_test ? ", flip test" : "") << "\n";

  ProgressOptions progress_options;
  progress_options.terminal = stderr_is_terminal();
  progress_options.label = "predict";
  progress_options.unit = "images";
  progress_options.every_seconds = 10;
  ProgressReporter progress(std::cerr, count, progress_options);
  int64_t written = 0;
  const PipelineStats stats = run_pipeline(
      static_cast<int64_t>(batches.size()),
      [&](int64_t b) {
        std::vector<Sample> samples;
        for (int64_t i : batches[static_cast<size_t>(b)]) samples.push_back(dataset->get(i));
        return samples;
      },
      predictor,
      [&](const std::vector<Sample>& samples, const torch::Tensor& depth) {
        for (size_t k = 0; k < samples.size(); ++k)
          write_outputs(spec, samples[k], depth[static_cast<int64_t>(k)][0].contiguous());
        written += static_cast<int64_t>(samples.size());
        progress.update(written);
      });
  progress.finish();
  const double model_seconds = stats.model_seconds;
  const double seconds = stats.seconds;
  std::cout << "predict: " << count << " images in " << format_seconds(seconds) << ", "
            << std::fixed << std::setprecision(1) << 1e3 * seconds / count << " ms per image ("
            << 1e3 * model_seconds / count << " ms in the model)\n"
            << "outputs: " << spec.dir.string() << "/<name>_depth.png ("
            << to_string(spec.colormap) << ", " << spec.vis_min << " to " << spec.vis_max << " m)"
            << (spec.png16 ? ", <name>_depth16.png (metres x 256)" : "")
            << (spec.npy ? ", <name>_depth.npy" : "") << (spec.panel ? ", <name>_panel.png" : "")
            << (spec.ply ? ", <name>.ply" : "") << "\n";
}

void setup_predict(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<PredictCli>();
  command.add_option("inputs", o->inputs, "images, folders, globs or list files (.txt)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_output_flag(command, o->output, "folder of the depth maps (default ./predictions)", {});
  add_weights_flags(command, o->ckpt, o->random_weights);
  add_model_flags(command, o->predictor.model);
  add_flip_test_flag(command, o->predictor.flip_test);
  add_batch_size_flag(command, o->batch_size, "1; images of one size share a batch");
  add_visualization_flags(command, o->vis);
  const char* g = section::kOutput;
  add_flag(command, "save_png16", o->save_png16, "also <name>_depth16.png: uint16, metres x 256", g);
  add_flag(command, "save_npy", o->save_npy, "also <name>_depth.npy: float32 metres", g);
  add_flag(command, "save_panel", o->save_panel, "also <name>_panel.png: image | depth | colour bar", g);
  add_flag(command, "save_ply", o->save_ply, "also <name>.ply: point cloud coloured by the image (needs intrinsics)", g);
  add_option(command, "ply_max_depth", o->ply_max_depth, "leave out PLY points deeper than this (0: keep all)", g)
      ->check(in_range(0, 1e4));
  add_intrinsics_flag(command, o->intrinsics,
                      "camera-aware models and --save_ply need them; or --calib");
  add_option(command, "calib", o->calib, "KITTI calibration file (calib_cam_to_cam.txt)", section::kData);
  add_option(command, "calib_camera", o->calib_camera, "camera of --calib: P_rect_<camera>", section::kData);
  add_inference_flags(command, o->predictor);
  add_overwrite_flag(command, o->overwrite);
  command.callback([o, &common] { run_predict(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"predict", "Depth maps for images (any size; PNG, npy, panel, PLY outputs)", 30,
                  setup_predict});

}  // namespace glpdepth::cli
