// `glpdepth test`: evaluates a checkpoint on a dataset with depth (KITTI Eigen, DrivingStereo,
// NYU v2, our synthetic sets) and optionally writes the 16-bit eval PNGs and colour
// visualisations (spec 6.3, 7; fixes B3, B5, B10, B11, B15).
// The evaluation itself (windows, protocols, metrics, outputs) is the library's evaluator
// (eval/evaluator.h), the same one that validates during training.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/results.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/precision.h"

namespace glpdepth::cli {
namespace {
namespace fs = std::filesystem;

struct TestCli {
  std::string dataset = "kitti";
  std::string data_path;
  std::string test_list;
  std::string split = "test";
  std::string ckpt;
  std::string encoder;
  double max_depth = 0;
  double max_depth_eval = 0;
  double min_depth_eval = 1e-3;
  std::string kitti_crop = "none";
  std::string protocol = "kb-crop";
  bool no_nyu_crop = false;
  std::string window = "auto";
  int window_h = 0, window_w = 0;
  bool flip_test = false;
  bool do_evaluate = false;
  bool save_eval_pngs = false;
  bool save_visualize = false;
  std::string colormap = "turbo";
  double vis_min = 0, vis_max = 0;
  std::string result_dir = "./results";
  std::string exp_name = "test";
  int64_t batch_size = 1;
  int workers = 2;
  std::string amp = "none";
  bool channels_last = false;
  bool skip_bad_samples = false;
  double canonical_focal = 0;
  std::string intrinsics;
};

// A progress line on stderr: rewritten in place on a terminal, a line per ~10% otherwise.
class Progress {
 public:
  Progress(std::string what, int64_t total)
      : what_(std::move(what)), total_(total), tty_(::isatty(2) != 0),
        start_(std::chrono::steady_clock::now()) {}
  void update(int64_t done, int64_t images) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const int64_t step = std::max<int64_t>(1, total_ / 10);
    if (!tty_ && done != total_ && done % step != 0) return;
    char line[160];
    std::snprintf(line, sizeof(line), "%s: batch %lld/%lld, %lld images, %.1f s, %.2f images/s",
                  what_.c_str(), static_cast<long long>(done), static_cast<long long>(total_),
                  static_cast<long long>(images), s, s > 0 ? images / s : 0.0);
    std::cerr << (tty_ ? "\r" : "") << line << (tty_ ? "" : "\n") << std::flush;
    if (tty_ && done == total_) std::cerr << "\n";
  }

 private:
  std::string what_;
  int64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

void run_test(const TestCli& o, const CommonOptions& common) {
  const int threads = apply_threads(common);
  PredictorOptions predictor_options;
  predictor_options.device = resolve_device(common.device);
  predictor_options.precision = parse_precision(o.amp);
  predictor_options.channels_last = o.channels_last;
  predictor_options.flip_test = o.flip_test;
  predictor_options.encoder = o.encoder;
  predictor_options.max_depth = o.max_depth;
  predictor_options.canonical_focal = o.canonical_focal;
  if (o.data_path.empty()) throw UsageError("--data_path: the dataset root is required");
  if (o.batch_size < 1) throw UsageError("--batch_size must be at least 1");
  if (o.workers < 0) throw UsageError("--workers must be >= 0");
  const WindowChoice window_choice = parse_window_choice(o.window);
  if (o.split != "train" && o.split != "val" && o.split != "test")
    throw UsageError(cat("--split ", o.split, ": expected train, val or test"));
  const Colormap colormap = parse_colormap(o.colormap);

  const std::string dataset_name = canonical_dataset_name(o.dataset);
  EvalSettings settings;
  settings.dataset = parse_eval_dataset(dataset_name);
  settings.kitti_crop = parse_kitti_crop(o.kitti_crop);
  settings.protocol = parse_protocol(o.protocol);
  settings.nyu_crop = !o.no_nyu_crop;
  if (settings.protocol == KittiProtocol::full_frame && settings.dataset != EvalDataset::kitti)
    throw UsageError(cat("--protocol full-frame applies to KITTI only, not ", dataset_name));
  settings.min_depth_eval = o.min_depth_eval;
  settings.max_depth_eval =
      o.max_depth_eval > 0 ? o.max_depth_eval : default_max_depth_eval(settings.dataset);

  DatasetOptions data;
  data.dataset = dataset_name;
  data.data_path = o.data_path;
  data.split = o.split;
  if (!o.test_list.empty()) data.list = o.test_list;
  data.window_h = o.window_h;
  data.window_w = o.window_w;
  data.skip_bad_lines = o.skip_bad_samples;
  if (!o.intrinsics.empty()) data.intrinsics = load_intrinsics(o.intrinsics);
  const EvalData eval_data = open_eval_data(data, settings, window_choice);
  for (const std::string& line : eval_data.dataset->skipped_lines())
    std::cerr << "skipped: " << line << "\n";
  check(eval_data.dataset->size() > 0, "dataset ", dataset_name, " at ", o.data_path,
        ": no samples");
  if (!eval_data.note.empty())
    std::cerr << "note: " << eval_data.note << "; evaluating whole frames (--window auto)\n";
  const bool evaluate_depth = eval_data.dataset->has_depth();
  if (!evaluate_depth && !(o.save_eval_pngs || o.save_visualize))
    throw UsageError(cat("dataset ", dataset_name,
                         " has no depth to evaluate; add --save_eval_pngs or --save_visualize"));

  const DatasetDefaults& defaults = dataset_defaults(dataset_name);
  predictor_options.fallback_max_depth = defaults.max_depth > 0 ? defaults.max_depth : 80.0;
  DepthPredictor predictor = open_predictor(o.ckpt, predictor_options, "evaluating");
  const double max_depth = predictor.model_options().max_depth;

  const fs::path out_dir = fs::path(o.result_dir) / o.exp_name;
  EvaluatorOptions options;
  options.settings = settings;
  options.input_window = eval_data.input_window;
  const double png_scale = defaults.depth_scale > 0 ? defaults.depth_scale : 256.0;
  // Eval PNGs and visualisations live in different folders, so neither overwrites the other
  // (B15); the colour range is fixed, never the image's own maximum.
  if (o.save_eval_pngs) options.sinks.push_back(eval_png_sink(out_dir / "eval_pngs", png_scale));
  const double vis_max = o.vis_max > 0 ? o.vis_max : max_depth;
  if (!(vis_max > o.vis_min))
    throw UsageError(cat("--vis_max (", vis_max, ") must exceed --vis_min (", o.vis_min, ")"));
  if (o.save_visualize)
    options.sinks.push_back(visualize_sink(out_dir / "visualize", colormap, o.vis_min, vis_max));
  fs::create_directories(out_dir);

  LoaderOptions loader_options;
  loader_options.batch_size = o.batch_size;
  loader_options.workers = o.workers;
  loader_options.skip_bad_samples = o.skip_bad_samples;
  loader_options.pin_memory = predictor_options.device.is_cuda();
  Loader loader(eval_data.dataset, loader_options);

  std::cerr << "test: " << eval_data.dataset->size() << " images of " << dataset_name << " from "
            << o.data_path << ", MiT-" << predictor.model_options().encoder << " ("
            << predictor.source().description << (o.ckpt.empty() ? "" : " " + o.ckpt)
            << "), max_depth " << max_depth << ", " << predictor_options.device.str() << ", "
            << threads << " threads" << (o.flip_test ? ", flip test" : "") << "\n";
  Progress progress("test", loader.num_batches());
  options.on_batch = [&progress](int64_t done, int64_t, int64_t images) {
    progress.update(done, images);
  };
  const EvaluateResult result = evaluate(predictor, loader, options);
  for (const std::string& message : loader.skipped_messages())
    std::cerr << "skipped: " << message << "\n";

  std::cout << "test: " << result.images << " images in " << format_seconds(result.seconds)
            << " (" << std::fixed << std::setprecision(1)
            << (result.images ? 1e3 * result.model_seconds / result.images : 0.0)
            << " ms per image in the model)\n";
  if (evaluate_depth) {
    nlohmann::json extra = {
        {"checkpoint", o.ckpt},
        {"checkpoint_kind", predictor.source().description},
        {"encoder", predictor.model_options().encoder},
        {"max_depth", max_depth},
        {"canonical_focal", predictor.model_options().canonical_focal},
        {"flip_test", o.flip_test},
        {"window", eval_data.window_description()},
        {"list", o.test_list.empty() ? default_list_path(o.data_path, o.split).string()
                                     : o.test_list},
        {"skipped_samples", loader.skipped()},
        {"seconds", result.seconds}};
    const std::string text =
        report_results(result.metrics, settings, MetricTable::metrics_py,
                       {out_dir / "metrics.json", out_dir / "per_image.csv"}, extra);
    std::cout << "metrics.py convention (silog: lambda 0.5, no x100), mean over images:\n"
              << text
              << "KITTI benchmark convention (SILog(KITTI): lambda 1, x100), mean over images:\n"
              << format_metrics_table(result.metrics.mean(), MetricTable::kitti_benchmark)
              << "results: " << (out_dir / "metrics.json").string() << ", "
              << (out_dir / "per_image.csv").string() << "\n";
  }
  for (const auto& sink : options.sinks) std::cout << sink->describe() << "\n";
}

}  // namespace

GLPDEPTH_COMMAND({"test", "Evaluate a checkpoint on a dataset (metrics, eval PNGs, visualisations)",
                  20, [](CLI::App& command, CommonOptions& common) {
                    auto o = std::make_shared<TestCli>();
                    add_option(command, "dataset", o->dataset,
                               "kitti, drivingstereo, nyudepthv2 or folder (no metrics)");
                    add_option(command, "data_path", o->data_path,
                               "dataset root (list paths are relative to it)");
                    add_option(command, "test_list", o->test_list,
                               "list file (default <data_path>/lists/<split>.txt)");
                    add_option(command, "split", o->split, "train, val or test: the default list");
                    command
                        .add_option("--ckpt,--ckpt_dir,--ckpt-dir", o->ckpt,
                                    "weights: our checkpoint, a PyTorch .pth/.ckpt state_dict "
                                    "(official GLPDepth files included) or safetensors")
                        ->capture_default_str();
                    add_option(command, "encoder", o->encoder,
                               "MiT variant b0..b5 (default: the checkpoint's own)");
                    add_option(command, "max_depth", o->max_depth,
                               "head scale in metres (0: the checkpoint's, else the dataset's)");
                    add_option(command, "max_depth_eval", o->max_depth_eval,
                               "evaluate gt < this (0: 80 driving, 10 NYU)");
                    add_option(command, "min_depth_eval", o->min_depth_eval,
                               "evaluate gt > this (metres)");
                    add_option(command, "kitti_crop", o->kitti_crop,
                               "KITTI crop: garg, eigen or none (valid pixels only)");
                    add_option(command, "protocol", o->protocol,
                               "KITTI: kb-crop (GLPDepth's, crops on the 352x1216 frame) or "
                               "full-frame (crops on the full GT frame)");
                    add_flag(command, "no_nyu_crop", o->no_nyu_crop,
                             "NYU: evaluate the whole frame instead of the Eigen crop");
                    add_option(command, "window", o->window,
                               "dataset window (KITTI kb-crop, DrivingStereo 384x864): auto (off "
                               "for frames smaller than it), on or off");
                    add_option(command, "window_h", o->window_h, "window height (0: dataset's)");
                    add_option(command, "window_w", o->window_w, "window width (0: dataset's)");
                    add_option(command, "canonical_focal", o->canonical_focal,
                               "camera-aware weights: their canonical focal in px (0: as the "
                               "checkpoint says; needed only for plain weights files)");
                    add_option(command, "intrinsics", o->intrinsics,
                               "fx,fy,cx,cy or a KITTI calib file, for every image (default: the "
                               "dataset's calibration / camera.json)");
                    add_flag(command, "flip_test", o->flip_test,
                             "average with the mirrored prediction (one batched forward)");
                    add_flag(command, "do_evaluate", o->do_evaluate,
                             "accepted for compatibility: metrics are on whenever there is depth");
                    add_flag(command, "save_eval_pngs", o->save_eval_pngs,
                             "16-bit PNGs (x256, NYU x1000) into <result_dir>/<exp_name>/eval_pngs");
                    add_flag(command, "save_visualize", o->save_visualize,
                             "colour maps into <result_dir>/<exp_name>/visualize");
                    add_option(command, "colormap", o->colormap,
                               "turbo, magma, inferno, rainbow or gray");
                    add_option(command, "vis_min", o->vis_min, "colour range start (metres)");
                    add_option(command, "vis_max", o->vis_max,
                               "colour range end (0: max_depth); fixed, never per image");
                    add_option(command, "result_dir", o->result_dir, "results root");
                    add_option(command, "exp_name", o->exp_name,
                               "results go to <result_dir>/<exp_name>");
                    add_option(command, "batch_size", o->batch_size, "images per forward");
                    add_option(command, "workers", o->workers, "decoding threads");
                    add_option(command, "amp", o->amp, "mixed precision on CUDA: none, bf16, fp16");
                    add_flag(command, "channels_last", o->channels_last,
                             "channels-last memory format");
                    add_flag(command, "skip_bad_samples", o->skip_bad_samples,
                             "leave out unreadable samples and bad list lines (counted)");
                    command.callback([o, &common] { run_test(*o, common); });
                  }});

}  // namespace glpdepth::cli
