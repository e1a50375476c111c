// `glpdepth predict`: metric depth for images of any size (never resized, spec B22; the model
// pads to a multiple of 32 internally and crops back).
//
// Batching: every input is probed first (header only), which also catches missing or
// unreadable files before anything is written. Images are then grouped by size, in order of
// first appearance, and each group runs in batches of --batch_size; so mixed sizes never
// need resizing and same-size sets get full batches. Decoding of the next batch overlaps the
// forward of the current one.
//
// Outputs per image, into --output (each file written atomically):
//   <stem>_depth.png    colour map over the fixed range [vis_min, vis_max or max_depth]
//   <stem>_depth16.png  uint16, metres x 256 (the eval-pngs format); --no_png16 turns it off
//   <stem>_depth.npy    float32 metres, (H, W)          (--save_npy)
//   <stem>_panel.png    image | depth | colour bar      (--save_panel)
//   <stem>.ply          point cloud coloured by the image (--save_ply; needs intrinsics)
#include <chrono>
#include <filesystem>
#include <future>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>

#include "cli.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/precision.h"

namespace glpdepth::cli {
namespace {
namespace fs = std::filesystem;

struct PredictCli {
  std::vector<std::string> inputs;
  std::string output = "./predictions";
  std::string ckpt;
  std::string encoder;
  double max_depth = 0;
  bool flip_test = false;
  int64_t batch_size = 1;
  std::string colormap = "turbo";
  double vis_min = 0, vis_max = 0;
  bool save_png16 = false;  // accepted; the 16-bit PNG is on by default
  bool no_png16 = false;
  bool save_npy = false;
  bool save_panel = false;
  bool save_ply = false;
  std::string intrinsics;
  std::string calib;
  std::string calib_camera = "02";
  double ply_max_depth = 0;
  std::string amp = "none";
  bool channels_last = false;
  double canonical_focal = 0;
};

// Stem of the output files: the dataset's output name without its extension.
std::string output_stem(const std::string& name) { return fs::path(name).stem().string(); }

void run_predict(const PredictCli& o, const CommonOptions& common) {
  const int threads = apply_threads(common);
  const torch::Device device = resolve_device(common.device);
  const Precision precision = parse_precision(o.amp);
  const Colormap colormap = parse_colormap(o.colormap);
  if (o.inputs.empty()) throw UsageError("no inputs: give images, folders, globs or list files");
  if (o.batch_size < 1) throw UsageError("--batch_size must be at least 1");
  if (!o.intrinsics.empty() && !o.calib.empty())
    throw UsageError("--intrinsics and --calib are alternatives; give one");

  std::optional<Intrinsics> intrinsics;
  if (!o.intrinsics.empty()) intrinsics = parse_intrinsics(o.intrinsics);
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

  // Probe every input before any output exists; the sizes drive the batching.
  std::map<std::pair<int, int>, std::vector<int64_t>> by_size;
  std::vector<std::pair<int, int>> size_order;
  for (int64_t i = 0; i < count; ++i) {
    std::string path = dataset->describe(i);  // "image PATH"
    if (path.rfind("image ", 0) == 0) path = path.substr(6);
    ImageInfo info;
    try {
      info = probe_image(path);
    } catch (const std::exception& e) {
      throw Error(cat("input image ", path, ": ", e.what()));
    }
    check(info.width > 0 && info.height > 0, "input image ", path, ": empty image");
    auto key = std::make_pair(info.height, info.width);
    if (by_size.find(key) == by_size.end()) size_order.push_back(key);
    by_size[key].push_back(i);
  }
  std::vector<std::vector<int64_t>> batches;
  for (const auto& key : size_order) {
    const auto& indices = by_size[key];
    for (size_t start = 0; start < indices.size(); start += o.batch_size) {
      const size_t end = std::min(indices.size(), start + static_cast<size_t>(o.batch_size));
      batches.emplace_back(indices.begin() + start, indices.begin() + end);
    }
  }

  PredictorOptions predictor_options;
  predictor_options.device = device;
  predictor_options.precision = precision;
  predictor_options.channels_last = o.channels_last;
  predictor_options.flip_test = o.flip_test;
  predictor_options.encoder = o.encoder;
  predictor_options.max_depth = o.max_depth;
  predictor_options.canonical_focal = o.canonical_focal;
  DepthPredictor predictor = open_predictor(o.ckpt, predictor_options, "predicting");
  predictor.require_intrinsics(intrinsics.has_value(),
                               o.ckpt.empty() ? std::string("--canonical_focal") : o.ckpt);
  const double max_depth = predictor.model_options().max_depth;
  const double vis_min = o.vis_min, vis_max = o.vis_max > 0 ? o.vis_max : max_depth;
  if (!(vis_max > vis_min))
    throw UsageError(cat("--vis_max (", vis_max, ") must exceed --vis_min (", vis_min, ")"));

  const fs::path out_dir(o.output);
  fs::create_directories(out_dir);
  std::cerr << "predict: " << count << " images (" << size_order.size() << " sizes, "
            << batches.size() << " batches), MiT-" << predictor.model_options().encoder << " ("
            << predictor.source().description << (o.ckpt.empty() ? "" : " " + o.ckpt) << "), "
            << device.str() << ", " << threads << " threads" << (o.flip_test ? ", flip test" : "")
            << "\n";

  auto decode = [&dataset](const std::vector<int64_t>& indices) {
    std::vector<Sample> samples;
    for (int64_t i : indices) samples.push_back(dataset->get(i));
    return samples;
  };
  const auto start = std::chrono::steady_clock::now();
  double model_seconds = 0;
  int64_t done = 0;
  std::future<std::vector<Sample>> next;
  if (!batches.empty()) next = std::async(std::launch::async, decode, batches[0]);
  for (size_t b = 0; b < batches.size(); ++b) {
    std::vector<Sample> samples = next.get();
    if (b + 1 < batches.size()) next = std::async(std::launch::async, decode, batches[b + 1]);
    // The same image and intrinsics tensors as the training and test loaders build.
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor depth = predictor.predict(collate(samples));
    model_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t k = 0; k < samples.size(); ++k) {
      const Sample& s = samples[k];
      const torch::Tensor d = depth[k][0].contiguous();
      const std::string stem = output_stem(s.name);
      write_image(out_dir / (stem + "_depth.png"), colorize(d, colormap, vis_min, vis_max));
      if (!o.no_png16) write_depth_png16(out_dir / (stem + "_depth16.png"), d, 256.0);
      if (o.save_npy) write_npy(out_dir / (stem + "_depth.npy"), d);
      if (o.save_panel) {
        PanelOptions panel;
        panel.colormap = colormap;
        panel.min_depth = vis_min;
        panel.max_depth = vis_max;
        write_image(out_dir / (stem + "_panel.png"), render_panel(s.rgb, d, panel));
      }
      if (o.save_ply) {
        check(s.intrinsics.known(), "input image ", s.source, ": no camera intrinsics for --save_ply");
        PlyOptions ply;
        ply.max_depth = o.ply_max_depth;
        write_ply(out_dir / (stem + ".ply"), d, &s.rgb, s.intrinsics, ply);
      }
    }
    done += static_cast<int64_t>(samples.size());
    std::cerr << "\rpredict: " << done << "/" << count << " images" << std::flush;
  }
  std::cerr << "\n";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "predict: " << count << " images in " << format_seconds(seconds) << ", "
            << std::fixed << std::setprecision(1) << 1e3 * seconds / count << " ms per image ("
            << 1e3 * model_seconds / count << " ms in the model)\n"
            << "outputs: " << out_dir.string() << "/<name>_depth.png ("
            << to_string(colormap) << ", " << vis_min << " to " << vis_max << " m)"
            << (o.no_png16 ? "" : ", <name>_depth16.png (metres x 256)")
            << (o.save_npy ? ", <name>_depth.npy" : "") << (o.save_panel ? ", <name>_panel.png" : "")
            << (o.save_ply ? ", <name>.ply" : "") << "\n";
}

}  // namespace

GLPDEPTH_COMMAND({"predict", "Depth maps for images (any size; PNG, npy, panel, PLY outputs)", 30,
                  [](CLI::App& command, CommonOptions& common) {
                    auto o = std::make_shared<PredictCli>();
                    command.add_option("inputs", o->inputs,
                                       "images, folders, globs or list files")
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
                    add_option(command, "output", o->output, "output folder");
                    add_option(command, "ckpt", o->ckpt,
                               "weights: our checkpoint, a PyTorch .pth/.ckpt state_dict or "
                               "safetensors");
                    add_option(command, "encoder", o->encoder,
                               "MiT variant b0..b5 (default: the checkpoint's own)");
                    add_option(command, "max_depth", o->max_depth,
                               "head scale in metres (0: the checkpoint's, else 80)");
                    add_option(command, "canonical_focal", o->canonical_focal,
                               "camera-aware weights: their canonical focal in px (0: as the "
                               "checkpoint says; needed only for plain weights files)");
                    add_flag(command, "flip_test", o->flip_test,
                             "average with the mirrored prediction (one batched forward)");
                    add_option(command, "batch_size", o->batch_size,
                               "images per forward (images are grouped by size)");
                    add_option(command, "colormap", o->colormap,
                               "turbo, magma, inferno, rainbow or gray");
                    add_option(command, "vis_min", o->vis_min, "colour range start (metres)");
                    add_option(command, "vis_max", o->vis_max,
                               "colour range end (0: max_depth); fixed, never per image");
                    add_flag(command, "save_png16", o->save_png16,
                             "16-bit PNG x256 <name>_depth16.png (on by default)");
                    add_flag(command, "no_png16", o->no_png16, "do not write the 16-bit PNG");
                    add_flag(command, "save_npy", o->save_npy, "float32 <name>_depth.npy");
                    add_flag(command, "save_panel", o->save_panel,
                             "<name>_panel.png: image | depth | colour bar");
                    add_flag(command, "save_ply", o->save_ply,
                             "<name>.ply point cloud coloured by the image (needs intrinsics)");
                    add_option(command, "intrinsics", o->intrinsics,
                               "fx,fy,cx,cy in pixels of the input images");
                    add_option(command, "calib", o->calib,
                               "KITTI calibration file (calib_cam_to_cam.txt)");
                    add_option(command, "calib_camera", o->calib_camera,
                               "camera of --calib: P_rect_<camera>");
                    add_option(command, "ply_max_depth", o->ply_max_depth,
                               "leave out PLY points deeper than this (0: keep all)");
                    add_option(command, "amp", o->amp, "mixed precision on CUDA: none, bf16, fp16");
                    add_flag(command, "channels_last", o->channels_last,
                             "channels-last memory format");
                    command.callback([o, &common] { run_predict(*o, common); });
                  }});

}  // namespace glpdepth::cli
