// `glpdepth test`: evaluates a checkpoint on a dataset with depth (KITTI Eigen, DrivingStereo,
// NYU v2, our synthetic sets) and optionally writes the 16-bit eval PNGs and colour
// visualisations (spec 6.3, 7; fixes B3, B5, B10, B11, B15).
//
// Windows and protocols. The KITTI and DrivingStereo loaders cut a fixed window out of image and
// GT (KITTI kb-crop 352x1216). For the KITTI full-frame protocol the GT must stay full size, so
// the dataset is opened without its window and the window is cut out of the image batch here;
// the prediction is then placed back into the full frame and only pixels under it are evaluated
// (the library's full-frame rule). `--window auto` (the default) turns the window off for frames
// smaller than it (e.g. synthetic sets written at --scale 0.25): the whole frame is evaluated.
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
#include "glpdepth/eval/metrics.h"
#include "glpdepth/eval/results.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/train/evaluate.h"
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

Window sub_window(const DatasetDefaults& d, int height, int width) {
  if (d.window == WindowKind::bottom_centre)
    return {height - d.window_h, height, (width - d.window_w) / 2,
            (width - d.window_w) / 2 + d.window_w};
  const int right = width - d.window_right_margin;
  return {height - d.window_h, height, right - d.window_w, right};
}

void run_test(const TestCli& o, const CommonOptions& common) {
  const int threads = apply_threads(common);
  const torch::Device device = resolve_device(common.device);
  const Precision precision = parse_precision(o.amp);
  if (o.data_path.empty()) throw UsageError("--data_path: the dataset root is required");
  if (o.batch_size < 1) throw UsageError("--batch_size must be at least 1");
  if (o.workers < 0) throw UsageError("--workers must be >= 0");
  if (o.window != "auto" && o.window != "on" && o.window != "off")
    throw UsageError(cat("--window ", o.window, ": expected auto, on or off"));
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

  // The dataset, opened without its window: the window is decided below and, for the KITTI
  // full-frame protocol, cut out of the image only.
  DatasetOptions data;
  data.dataset = dataset_name;
  data.data_path = o.data_path;
  data.split = o.split;
  if (!o.test_list.empty()) data.list = o.test_list;
  data.window = false;
  data.window_h = o.window_h;
  data.window_w = o.window_w;
  data.skip_bad_lines = o.skip_bad_samples;
  if (!o.intrinsics.empty()) data.intrinsics = load_intrinsics(o.intrinsics);
  std::shared_ptr<Dataset> dataset = make_dataset(data);
  for (const std::string& line : dataset->skipped_lines()) std::cerr << "skipped: " << line << "\n";
  check(dataset->size() > 0, "dataset ", dataset_name, " at ", o.data_path, ": no samples");
  DatasetDefaults defaults = dataset_defaults(dataset_name);
  if (o.window_h > 0) defaults.window_h = o.window_h;
  if (o.window_w > 0) defaults.window_w = o.window_w;

  bool use_window = defaults.window != WindowKind::none && o.window != "off";
  if (use_window && o.window == "auto") {
    const std::string why = window_does_not_fit(*dataset, defaults);
    if (!why.empty()) {
      use_window = false;
      std::cerr << "note: " << why << "; evaluating whole frames (--window auto)\n";
    }
  }
  const bool full_frame =
      settings.dataset == EvalDataset::kitti && settings.protocol == KittiProtocol::full_frame;
  if (use_window && !full_frame) {
    // The loader crops image and GT alike.
    data.window = std::nullopt;
    dataset = make_dataset(data);
  }
  const bool crop_images_here = use_window && full_frame;

  settings.min_depth_eval = o.min_depth_eval;
  settings.max_depth_eval =
      o.max_depth_eval > 0 ? o.max_depth_eval : default_max_depth_eval(settings.dataset);
  const bool evaluate = dataset->has_depth();
  if (!evaluate && !(o.save_eval_pngs || o.save_visualize))
    throw UsageError(cat("dataset ", dataset_name,
                         " has no depth to evaluate; add --save_eval_pngs or --save_visualize"));

  ModelSource source;
  GLPDepth model = load_inference_model(o.ckpt, o.encoder, o.max_depth,
                                        defaults.max_depth > 0 ? defaults.max_depth : 80.0, device,
                                        o.channels_last, "evaluating", o.canonical_focal, &source);
  const double max_depth = model->options().max_depth;

  const fs::path out_dir = fs::path(o.result_dir) / o.exp_name;
  const fs::path eval_png_dir = o.save_eval_pngs ? out_dir / "eval_pngs" : fs::path();
  const fs::path visualize_dir = o.save_visualize ? out_dir / "visualize" : fs::path();
  const double png_scale = defaults.depth_scale > 0 ? defaults.depth_scale : 256.0;
  const double vis_min = o.vis_min, vis_max = o.vis_max > 0 ? o.vis_max : max_depth;
  if (!(vis_max > vis_min))
    throw UsageError(cat("--vis_max (", vis_max, ") must exceed --vis_min (", vis_min, ")"));
  fs::create_directories(out_dir);

  LoaderOptions loader_options;
  loader_options.batch_size = o.batch_size;
  loader_options.workers = o.workers;
  loader_options.skip_bad_samples = o.skip_bad_samples;
  loader_options.pin_memory = device.is_cuda();
  Loader loader(dataset, loader_options);

  std::cerr << "test: " << dataset->size() << " images of " << dataset_name << " from "
            << o.data_path << ", MiT-" << model->options().encoder << " (" << source.description
            << (o.ckpt.empty() ? "" : " " + o.ckpt) << "), max_depth " << max_depth << ", "
            << device.str() << ", " << threads << " threads"
            << (o.flip_test ? ", flip test" : "") << "\n";

  MetricAccumulator accumulator;
  Progress progress("test", loader.num_batches());
  int64_t done = 0, images = 0;
  double model_seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  for (Batch& batch : loader) {
    ++done;
    if (batch.empty()) continue;
    torch::Tensor images_in = batch.image;
    Window window{0, static_cast<int>(images_in.size(2)), 0, static_cast<int>(images_in.size(3))};
    if (crop_images_here) {
      window = sub_window(defaults, window.height(), window.width());
      images_in = images_in.slice(2, window.top, window.bottom).slice(3, window.left, window.right);
    }
    torch::Tensor depth;
    {
      const auto t0 = std::chrono::steady_clock::now();
      torch::InferenceMode inference;
      AutocastGuard autocast(device, precision);
      auto input = images_in.to(device, /*non_blocking=*/true);
      if (o.channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
      // One forward of 2B images with --flip_test (predict_depth batches the mirrors).
      depth = predict_depth(model, input, o.flip_test, batch.intrinsics)
                  .to(torch::kCPU, torch::kFloat32);
      model_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    for (int64_t i = 0; i < batch.size(); ++i) {
      const std::string& name = batch.names[i];
      torch::Tensor pred = depth[i][0];
      if (evaluate) {
        torch::Tensor gt = batch.depth[i][0];
        if (crop_images_here) {
          // The prediction in the full frame; pixels outside its window are not evaluated.
          torch::Tensor full = torch::zeros_like(gt);
          full.slice(0, window.top, window.bottom).slice(1, window.left, window.right).copy_(pred);
          EvalFrame frame = prepare_eval_frame(settings, full, gt);
          torch::Tensor inside = torch::zeros_like(frame.mask);
          inside.slice(0, window.top, window.bottom).slice(1, window.left, window.right).fill_(true);
          accumulator.add(frame.pred, frame.gt, torch::logical_and(frame.mask, inside), name);
        } else {
          evaluate_image(accumulator, settings, pred, gt, name);
        }
      }
      // Eval PNGs and visualisations live in different folders, so neither overwrites the
      // other (B15); the colour range is fixed, never the image's own maximum.
      if (!eval_png_dir.empty()) write_depth_png16(eval_png_dir / png_name(name), pred, png_scale);
      if (!visualize_dir.empty())
        write_image(visualize_dir / png_name(name), colorize(pred, colormap, vis_min, vis_max));
    }
    images += batch.size();
    progress.update(done, images);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& message : loader.skipped_messages())
    std::cerr << "skipped: " << message << "\n";

  std::cout << "test: " << images << " images in " << format_seconds(seconds) << " ("
            << std::fixed << std::setprecision(1) << (images ? 1e3 * model_seconds / images : 0.0)
            << " ms per image in the model)\n";
  if (evaluate) {
    nlohmann::json extra = {
        {"checkpoint", o.ckpt},
        {"checkpoint_kind", source.description},
        {"encoder", model->options().encoder},
        {"max_depth", max_depth},
        {"canonical_focal", model->options().canonical_focal},
        {"flip_test", o.flip_test},
        {"window", use_window ? cat(defaults.window_w, "x", defaults.window_h) : "none"},
        {"list", o.test_list.empty() ? default_list_path(o.data_path, o.split).string()
                                     : o.test_list},
        {"skipped_samples", loader.skipped()},
        {"seconds", seconds}};
    const std::string text =
        report_results(accumulator, settings, MetricTable::metrics_py,
                       {out_dir / "metrics.json", out_dir / "per_image.csv"}, extra);
    std::cout << "metrics.py convention (silog: lambda 0.5, no x100), mean over images:\n"
              << text
              << "KITTI benchmark convention (SILog(KITTI): lambda 1, x100), mean over images:\n"
              << format_metrics_table(accumulator.mean(), MetricTable::kitti_benchmark)
              << "results: " << (out_dir / "metrics.json").string() << ", "
              << (out_dir / "per_image.csv").string() << "\n";
  }
  if (!eval_png_dir.empty())
    std::cout << "eval PNGs (uint16, depth x " << png_scale << "): " << eval_png_dir.string()
              << "\n";
  if (!visualize_dir.empty())
    std::cout << "visualisations (" << to_string(colormap) << ", " << vis_min << " to " << vis_max
              << " m): " << visualize_dir.string() << "\n";
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
