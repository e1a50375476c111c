// `glpdepth predict`: metric depth for images of any size (never resized, spec B22; the model
// pads to a multiple of 32 internally and crops back).
//
// Batching: every input is probed first (header only), which also catches missing or
// unreadable files before anything is written. Images are then grouped by size, in order of
// first appearance, and each group runs in batches of --batch_size (plan_batches_by_size); so
// mixed sizes never need resizing and same-size sets get full batches. The images run through
// the library's pipeline (infer/pipeline.h) into its depth-file sink (infer/depth_files.h).
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <iostream>
#include <optional>

#include "cli.h"
#include "flags.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/infer/depth_files.h"
#include "glpdepth/infer/pipeline.h"
#include "glpdepth/infer/video.h"
#include "glpdepth/io/video.h"
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
  // Video
  bool save_video = false;
  double fps = 0;
  VideoLayout video_layout = VideoLayout::kDepth;
  int64_t every = 1;
  double start = 0;
  double duration = 0;
};

// The per-frame files the flags ask for (the colour map PNG unless `colour` is off), checked
// before the output folder is made: a usage error leaves nothing behind. `dir` is the caller's.
DepthFileOptions file_options(const PredictCli& o, double max_depth, bool colour) {
  DepthFileOptions files;
  files.colormap = o.vis.colormap;
  files.vis_min = o.vis.vis_min;
  files.vis_max = o.vis.vis_max > 0 ? o.vis.vis_max : max_depth;
  files.colour = colour;
  files.png16 = o.save_png16;
  files.npy = o.save_npy;
  files.panel = o.save_panel;
  files.ply = o.save_ply;
  files.ply_max_depth = o.ply_max_depth;
  if (!(files.vis_max > files.vis_min))
    throw UsageError(cat("--vis_max (", files.vis_max, ") must exceed --vis_min (", files.vis_min, ")"));
  return files;
}

DepthVideoOptions video_options(const PredictCli& o, const DepthFileOptions& files, fs::path path,
                                double fps) {
  DepthVideoOptions video;
  video.path = std::move(path);
  video.fps = fps;
  video.colormap = files.colormap;
  video.vis_min = files.vis_min;
  video.vis_max = files.vis_max;
  video.layout = o.video_layout;
  return video;
}

ProgressReporter make_progress(int64_t count, const std::string& unit) {
  ProgressOptions options;
  options.terminal = stderr_is_terminal();
  options.label = "predict";
  options.unit = unit;
  options.every_seconds = 10;
  return ProgressReporter(std::cerr, count, options);
}

// `predict drive.mp4`: depth video plus the per-frame files asked for, named by frame index and
// time stamp.
// "85.2 ms per image in the model", or with parallel calls "2 images at once, 160.4 ms each in
// the model": the time one call took, which is what the model-alone figure of bench compares to.
std::string model_time(const PipelineStats& stats, int64_t count, const std::string& unit) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(1);
  const double per_call = 1e3 * stats.model_seconds / std::max<int64_t>(1, count);
  if (stats.parallel_calls > 1)
    text << stats.parallel_calls << " " << unit << "s at once, " << per_call << " ms each in the model";
  else
    text << per_call << " ms per " << unit << " in the model";
  return text.str();
}

void run_predict_video(const PredictCli& o, DepthPredictor& predictor, int threads,
                       const std::optional<Intrinsics>& intrinsics) {
  const fs::path input = o.inputs.front();
  VideoSourceOptions source_options;
  source_options.every = o.every;
  source_options.start = o.start;
  source_options.duration = o.duration;
  source_options.batch_size = std::max<int64_t>(1, o.batch_size);
  source_options.intrinsics = intrinsics;
  source_options.on_warning = [](const std::string& message) { std::cerr << "warning: " << message << "\n"; };
  std::unique_ptr<VideoFrameSource> source = video_frames(input, source_options);
  const VideoInfo& info = source->info();
  const double fps = o.fps > 0 ? o.fps : (info.fps > 0 ? info.fps / static_cast<double>(o.every) : 10.0);

  DepthFileOptions files = file_options(o, predictor.model_options().max_depth, false);
  const fs::path dir = files.dir =
      claim_folder(output_or(o.output, "./predictions"), o.overwrite, "predict");
  const DepthVideoOptions video = video_options(o, files, dir / (input.stem().string() + "_depth.mp4"), fps);
  std::cerr << "predict: " << input.string() << " (" << info.width << "x" << info.height << ", "
            << info.codec << ", " << std::setprecision(4) << info.fps << " fps"
            << (info.duration > 0 ? cat(", ", info.duration, " s") : std::string()) << "), MiT-"
            << predictor.model_options().encoder << " (" << predictor.source().description
            << (o.ckpt.empty() ? "" : " " + o.ckpt) << "), " << predictor.describe_runtime() << ", " << threads << " threads\n"
            << "depth video: " << video.path.string() << " (" << describe_colour_scale(video) << ")\n";

  ProgressReporter progress = make_progress(std::max<int64_t>(0, source->frame_count()), "frames");
  int64_t written = 0;
  std::unique_ptr<DepthSink> movie = depth_video_sink(video);
  std::unique_ptr<DepthSink> frame_files = depth_file_sink(files);
  std::unique_ptr<DepthSink> report = function_sink([&](const Frames& frames) {
    written += frames.size();
    progress.update(written);
  });
  std::vector<DepthSink*> sinks = {movie.get(), report.get()};
  if (o.save_png16 || o.save_npy || o.save_panel || o.save_ply) sinks.push_back(frame_files.get());
  const PipelineStats stats = run_pipeline(*source, predictor, sinks);
  progress.finish();
  check(written > 0, "video ", input.string(), ": no frames in the chosen span (--start ", o.start,
        ", --duration ", o.duration, ")");
  std::cout << "predict: " << written << " frames in " << format_seconds(stats.seconds) << ", "
            << std::fixed << std::setprecision(1) << written / stats.seconds << " frames/s ("
            << model_time(stats, written, "frame") << ")";
  if (source->corrupt_frames() > 0)
    std::cout << "; " << source->corrupt_frames() << " corrupt frames skipped";
  std::cout << "\noutputs: " << video.path.string() << " (H.264, " << to_string(video.layout) << ", "
            << std::setprecision(3) << fps << " fps)";
  if (sinks.size() > 2) std::cout << ", " << describe_depth_files(files).substr(dir.string().size() + 1);
  std::cout << "\n";
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

  const bool video_input = looks_like_video(o.inputs.front());
  for (size_t i = 1; i < o.inputs.size(); ++i)
    if (video_input || looks_like_video(o.inputs[i]))
      throw UsageError(cat("a video must be predict's only input (got ", o.inputs.size(), " inputs)"));
  if (!video_input && (o.every != 1 || o.start != 0 || o.duration != 0))
    throw UsageError("--every, --start and --duration apply to a video input");
  if (video_input || o.save_video) {
    if (!video_supported())
      throw Error("this build of glpdepth has no video support (FFmpeg's libraries were not found "
                  "when it was built: scripts/install-deps.sh installs them)");
  }
  if (video_input) {
    VideoReader probe(o.inputs.front());  // a file that is not a video fails before the model loads
    DepthPredictor predictor = open_predictor(o.ckpt, o.random_weights, predictor_options, "predict");
    predictor.require_intrinsics(intrinsics.has_value(),
                                 o.ckpt.empty() ? std::string("--canonical_focal") : o.ckpt);
    run_predict_video(o, predictor, threads, intrinsics);
    return;
  }

  DatasetOptions data;
  data.dataset = DatasetKind::kFolder;
  data.inputs = o.inputs;
  data.intrinsics = intrinsics;
  std::shared_ptr<const Dataset> dataset = make_dataset(data);
  const int64_t count = dataset->size();
  check(count > 0, "no input images");
  int64_t sizes = 0;
  auto batches = plan_batches_by_size(*dataset, std::max<int64_t>(1, o.batch_size), &sizes);
  const size_t batch_count = batches.size();

  DepthPredictor predictor = open_predictor(o.ckpt, o.random_weights, predictor_options, "predict");
  predictor.require_intrinsics(intrinsics.has_value(),
                               o.ckpt.empty() ? std::string("--canonical_focal") : o.ckpt);
  DepthFileOptions files = file_options(o, predictor.model_options().max_depth, true);
  files.dir = claim_folder(output_or(o.output, "./predictions"), o.overwrite, "predict");
  std::optional<DepthVideoOptions> video;
  if (o.save_video) {
    check(sizes == 1, "--save_video: the images have ", sizes, " sizes; a video needs one");
    video = video_options(o, files, files.dir / "depth.mp4", o.fps > 0 ? o.fps : 10.0);
  }
  std::cerr << "predict: " << count << " images (" << sizes << " sizes, " << batch_count
            << " batches), MiT-" << predictor.model_options().encoder << " ("
            << predictor.source().description << (o.ckpt.empty() ? "" : " " + o.ckpt) << "), "
            << predictor.describe_runtime() << ", " << threads << " threads"
            << (predictor_options.flip_test ? ", flip test" : "") << "\n";

  if (video) std::cerr << "depth video: " << video->path.string() << " (" << describe_colour_scale(*video) << ")\n";
  ProgressReporter progress = make_progress(count, "images");
  int64_t written = 0;
  std::unique_ptr<FrameSource> source = dataset_frames(dataset, std::move(batches));
  std::unique_ptr<DepthSink> outputs = depth_file_sink(files);
  std::unique_ptr<DepthSink> report = function_sink([&](const Frames& frames) {
    written += frames.size();
    progress.update(written);
  });
  std::vector<DepthSink*> sinks = {outputs.get(), report.get()};
  std::unique_ptr<DepthSink> movie;
  if (video) {
    movie = depth_video_sink(*video);
    sinks.push_back(movie.get());
  }
  const PipelineStats stats = run_pipeline(*source, predictor, sinks);
  progress.finish();
  std::cout << "predict: " << count << " images in " << format_seconds(stats.seconds) << ", "
            << std::fixed << std::setprecision(1) << 1e3 * stats.seconds / count
            << " ms per image (" << model_time(stats, count, "image") << ")\n"
            << "outputs: " << describe_depth_files(files)
            << (video ? cat(", ", video->path.string(), " (H.264, ", video->fps, " fps)") : std::string())
            << "\n";
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
  const char* v = "Video";
  add_flag(command, "save_video", o->save_video,
           "also <output>/depth.mp4 from images of one size in order (a KITTI drive); a video input always gets <name>_depth.mp4", v);
  add_option(command, "fps", o->fps, "frame rate of the depth video (0: the input video's / --every; 10 for images, KITTI's rate)", v)
      ->check(in_range(0, 1000));
  add_enum_option(command, "video_layout", o->video_layout, video_layout_names(),
                  "depth, colorbar (depth | colour bar) or side-by-side (image | depth | colour bar)", v);
  add_option(command, "every", o->every, "video input: keep every N-th frame", v)->check(in_range(1, 1e6));
  add_option(command, "start", o->start, "video input: first second to predict", v)->check(in_range(0, 1e7));
  add_option(command, "duration", o->duration, "video input: seconds to predict from --start (0: to the end)", v)
      ->check(in_range(0, 1e7));
  o->predictor.hint = PerformanceHint::kThroughput;  // a folder, a video, a test set
  add_inference_flags(command, o->predictor);
  add_overwrite_flag(command, o->overwrite);
  command.callback([o, &common] { run_predict(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"predict", "Depth maps for images and videos (any size; PNG, npy, panel, PLY, video outputs)", 30,
                  setup_predict});

}  // namespace glpdepth::cli
