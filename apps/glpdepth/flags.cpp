#include "flags.h"

#include <iostream>

#include "glpdepth/util/error.h"

namespace glpdepth::cli {

void add_dataset_option(CLI::App& app, const std::string& snake_name,
                        std::function<void(DatasetKind)> set, const std::string& help,
                        const std::string& group, const std::string& default_name) {
  app.add_option_function<std::string>(
         option_names(snake_name),
         [set, snake_name](const std::string& given) {
           try {
             set(parse_dataset(given));
           } catch (const UsageError& e) {
             throw CLI::ValidationError(cat("--", snake_name, ": ", e.what()));
           }
         },
         help)
      ->default_str(default_name)
      ->type_name("NAME")
      ->group(group);
}

void add_dataset_name_flag(CLI::App& app, DatasetKind& dataset) {
  add_dataset_option(app, "dataset", [&dataset](DatasetKind kind) { dataset = kind; },
                     "kitti, drivingstereo or nyudepthv2 (any case: DrivingStereo works; "
                     "synthetic sets use kitti or drivingstereo)",
                     section::kData, to_string(dataset));
}

void add_data_path_flag(CLI::App& app, std::string& data_path) {
  add_option(app, "data_path", data_path,
             "the dataset folder, or as in the original the folder holding it (kitti/, "
             "DrivingStereo/, nyu_depth_v2/)",
             section::kData);
}

void add_workers_flag(CLI::App& app, int& workers) {
  add_option(app, "workers", workers, "threads that load (train, test) or render (synth) frames",
             section::kData)
      ->check(in_range(0, 256));
}

void add_dataset_flags(CLI::App& app, const DatasetFlags& f) {
  add_dataset_name_flag(app, f.dataset);
  add_data_path_flag(app, f.data_path);
  add_enum_option(app, "window", f.window,
                  {{"auto", WindowChoice::kAuto}, {"on", WindowChoice::kOn}, {"off", WindowChoice::kOff}},
                  "dataset window (KITTI kb-crop 352x1216, DrivingStereo 384x864): auto (off for "
                  "frames smaller than it), on or off",
                  section::kData);
  add_option(app, "window_h", f.window_h, "window height (0: the dataset's)", section::kData)
      ->check(in_range(0, 16384));
  add_option(app, "window_w", f.window_w, "window width (0: the dataset's)", section::kData)
      ->check(in_range(0, 16384));
  add_workers_flag(app, f.workers);
  add_flag(app, "skip_bad_samples", f.skip_bad_samples,
           "leave out unreadable samples and bad list lines (counted and listed) instead of "
           "stopping",
           section::kData);
}

void add_model_flags(CLI::App& app, ModelChoice& model) {
  app.add_option_function<std::string>(
         option_names("encoder"),
         [&model](const std::string& given) {
           try {
             model.encoder = given.empty() ? std::nullopt
                                           : std::optional<MitEncoder>(parse_encoder(given));
           } catch (const UsageError& e) {
             throw CLI::ValidationError(cat("--encoder: ", e.what()));
           }
         },
         "MiT variant b0..b5 (\"\": the weights file's own, else b4); must match the weights")
      ->default_str(model.encoder ? to_string(*model.encoder) : "\"\"")
      ->type_name("NAME")
      ->group(section::kModel);
  add_option(app, "max_depth", model.max_depth,
             "head output range in metres (0: the weights file's, else the dataset's: 80 "
             "driving, 10 NYU)",
             section::kModel)
      ->check(in_range(0, 1e4));
  add_option(app, "canonical_focal", model.canonical_focal,
             "camera-aware mode: depth for this focal length in px, rescaled by fx/F per image "
             "(0: off, or as the weights file says; docs/CAMERAS.md)",
             section::kModel)
      ->check(in_range(0, 1e6));
}

void add_weights_flags(CLI::App& app, std::string& ckpt, bool& random_weights) {
  add_option(app, "ckpt", ckpt,
             "weights: our checkpoint, an official GLPDepth .ckpt, a PyTorch/HF state_dict or "
             "safetensors",
             section::kModel, {"--ckpt_dir", "--ckpt-dir"});
  add_flag(app, "random_weights", random_weights,
           "use untrained weights on purpose (instead of --ckpt): for speed tests and checks",
           section::kModel);
}

void add_eval_flags(CLI::App& app, EvalSettings& settings, int& do_kb_crop) {
  // The flag's default is the dataset's bound (resolved by each command), shown as 0.
  settings.max_depth_eval = 0;
  add_enum_option(app, "kitti_crop", settings.kitti_crop,
                  {{"none", EvalCrop::kNone}, {"garg", EvalCrop::kGarg}, {"garg_crop", EvalCrop::kGarg},
                   {"eigen", EvalCrop::kEigen}, {"eigen_crop", EvalCrop::kEigen}},
                  "KITTI evaluation crop: garg, eigen or none (valid pixels only)",
                  section::kValidation);
  add_enum_option(app, "protocol", settings.protocol,
                  {{"kb-crop", KittiProtocol::kKbCrop}, {"kb_crop", KittiProtocol::kKbCrop},
                   {"full-frame", KittiProtocol::kFullFrame}, {"full_frame", KittiProtocol::kFullFrame}},
                  "KITTI protocol: kb-crop (GLPDepth's: crops on the 352x1216 frame) or "
                  "full-frame (the prediction placed in the full ground-truth frame)",
                  section::kValidation);
  add_option(app, "min_depth_eval", settings.min_depth_eval, "evaluate ground truth > this (m)",
             section::kValidation)
      ->check(in_range(0, 1e4));
  add_option(app, "max_depth_eval", settings.max_depth_eval,
             "evaluate ground truth < this (m; 0: the dataset's, 80 driving, 10 NYU)",
             section::kValidation)
      ->check(in_range(0, 1e4));
  app.add_flag_function(
         option_names("no_nyu_crop"),
         [&settings](int64_t count) { settings.nyu_crop = count == 0; },
         "NYU: evaluate the whole frame instead of the Eigen crop 45:471, 41:601")
      ->default_str("off")
      ->group(section::kValidation);
  // The original's train/test take "--do_kb_crop 1" (an int), its eval_with_pngs a bare
  // "--do_kb_crop": an optional value, 1 when absent (CLI11 gives a bare option "true").
  app.add_option_function<std::string>(
         option_names("do_kb_crop"),
         [&do_kb_crop](const std::string& given) {
           if (given.empty() || given == "true") {
             do_kb_crop = 1;
           } else if (given == "0" || given == "1") {
             do_kb_crop = given == "1";
           } else {
             throw CLI::ValidationError(cat("--do_kb_crop ", given, ": must be in [0, 1]"));
           }
         },
         "the original's flag: 1 = GLPDepth's kb-crop evaluation (our default)")
      ->expected(0, 1)
      ->type_name("INT in [0, 1]")
      ->default_str("1")
      ->group(section::kCompat);
}

void check_do_kb_crop(int do_kb_crop) {
  if (do_kb_crop != 0 && do_kb_crop != 1)
    throw UsageError(cat("--do_kb_crop ", do_kb_crop, ": expected 1 (or 0)"));
  if (do_kb_crop == 0)
    throw UsageError("--do_kb_crop 0: the original kb-cropped KITTI frames in its loader anyway, "
                     "so 0 changed nothing; for the standard full-frame evaluation use "
                     "--protocol full-frame");
}

namespace {
// --amp: train's mixed precision, and in the inference commands the old name of --precision.
void add_amp_flag(CLI::App& app, Precision& precision,
                  const std::vector<std::pair<std::string, Precision>>& names,
                  const std::string& help, const char* group, const std::string& renamed_to) {
  add_enum_option(app, "amp", precision, names, help, group, {}, renamed_to);
}
}  // namespace

void add_precision_flags(CLI::App& app, Precision& precision, bool& channels_last) {
  add_amp_flag(app, precision,
               {{"none", Precision::kFloat32}, {"fp32", Precision::kFloat32},
                {"bf16", Precision::kBFloat16}, {"fp16", Precision::kFloat16}},
               "mixed precision: none, bf16 (CUDA, or the CPU's autocast) or fp16 (CUDA; trains "
               "with loss scaling)",
               section::kDevice, "");
  add_channels_last_flag(app, channels_last);
}

void add_channels_last_flag(CLI::App& app, bool& channels_last) {
  add_flag(app, "channels_last", channels_last,
           "channels-last memory format (LibTorch; faster on CUDA)", section::kDevice);
}

void add_inference_flags(CLI::App& app, PredictorOptions& options) {
  add_enum_option(app, "backend", options.backend,
                  {{"auto", Backend::kAuto}, {"libtorch", Backend::kLibTorch},
                   {"torch", Backend::kLibTorch}, {"openvino", Backend::kOpenVino}},
                  "who runs the network: auto (OpenVINO on the CPU where this build has it, else "
                  "LibTorch), libtorch or openvino (CPU)",
                  section::kDevice);
  const std::vector<std::pair<std::string, Precision>> precisions = {
      {"fp32", Precision::kFloat32}, {"none", Precision::kFloat32}, {"bf16", Precision::kBFloat16},
      {"fp16", Precision::kFloat16}, {"auto", Precision::kAuto}};
  add_enum_option(app, "precision", options.precision, precisions,
                  "inference arithmetic: fp32, bf16 (CPU and CUDA), fp16 (CUDA) or auto (bf16 "
                  "where the CPU has AMX or AVX512-BF16 or on CUDA 8.0+, else fp32)",
                  section::kDevice);
  add_amp_flag(app, options.precision, precisions, "the old name of --precision here (warns)",
               section::kCompat, "--precision");
  add_enum_option(app, "performance_hint", options.hint,
                  {{"latency", PerformanceHint::kLatency},
                   {"throughput", PerformanceHint::kThroughput}},
                  "OpenVINO: latency (each image on all threads) or throughput (several images "
                  "at once, one stream each: more images per second)",
                  section::kDevice, {"--hint"});
  add_channels_last_flag(app, options.channels_last);
}

void add_batch_size_flag(CLI::App& app, int64_t& batch_size, const std::string& zero_means) {
  add_option(app, "batch_size", batch_size, "images per step (0: " + zero_means + ")",
             section::kData)
      ->check(in_range(0, 4096));
}

void add_seed_flag(CLI::App& app, uint64_t& seed) {
  add_option(app, "seed", seed, "random seed: the same seed gives the same result",
             section::kDevice)
      ->check(in_range(0, 1.8446744073709552e19));
}

void add_exp_name_flag(CLI::App& app, std::string& exp_name) {
  add_option(app, "exp_name", exp_name, "name of this run: its folder under --output",
             section::kOutput);
}

void add_flip_test_flag(CLI::App& app, bool& flip_test) {
  add_flag(app, "flip_test", flip_test,
           "average with the prediction of the mirrored image (one batched forward)",
           section::kModel);
}

void add_intrinsics_flag(CLI::App& app, std::string& intrinsics, const std::string& otherwise) {
  add_option(app, "intrinsics", intrinsics,
             "fx,fy,cx,cy in pixels, or a KITTI calibration file, for every image (" + otherwise + ")",
             section::kData);
}

void add_val_fraction_flag(CLI::App& app, double& val_fraction) {
  add_option(app, "val_fraction", val_fraction,
             "fraction of sequences held out for validation", section::kData)
      ->check(in_range(0, 1));
}

void add_visualization_flags(CLI::App& app, VisualizationFlags& flags) {
  add_enum_option(app, "colormap", flags.colormap,
                  {{"turbo", Colormap::kTurbo}, {"magma", Colormap::kMagma},
                   {"inferno", Colormap::kInferno}, {"rainbow", Colormap::kRainbow},
                   {"gray", Colormap::kGray}},
                  "colour map: turbo, magma, inferno, rainbow or gray", section::kOutput);
  add_option(app, "vis_min", flags.vis_min, "colour range start (m)", section::kOutput)
      ->check(in_range(0, 1e4));
  add_option(app, "vis_max", flags.vis_max,
             "colour range end (m; 0: max_depth); fixed, never per image", section::kOutput)
      ->check(in_range(0, 1e4));
}

void add_output_flag(CLI::App& app, std::string& output, const std::string& what,
                     const std::vector<std::string>& aliases) {
  add_option(app, "output", output, what, section::kOutput, aliases);
}

void add_overwrite_flag(CLI::App& app, bool& overwrite) {
  add_flag(app, "overwrite", overwrite,
           "write into an existing --output, replacing an earlier run's files (default: keep them "
           "and write to <output>_2, _3, ...)",
           section::kOutput);
}

ExistingOutput existing_output(bool overwrite) {
  return overwrite ? ExistingOutput::kOverwrite : ExistingOutput::kNewName;
}

namespace {
std::filesystem::path report_claim(const ClaimedOutput& claimed, const std::filesystem::path& asked,
                                   const std::string& command) {
  if (claimed.renamed)
    std::cerr << command << ": " << asked.string() << " holds an earlier run's results; writing to "
              << claimed.path.string() << " (--overwrite writes into " << asked.string() << ")\n";
  return claimed.path;
}
}  // namespace

std::filesystem::path claim_folder(const std::filesystem::path& dir, bool overwrite,
                                   const std::string& command) {
  return report_claim(claim_output_folder(dir, existing_output(overwrite), "--output"), dir, command);
}

std::filesystem::path claim_file(const std::filesystem::path& file, bool overwrite,
                                 const std::string& command) {
  return report_claim(claim_output_file(file, existing_output(overwrite), "--output"), file, command);
}

std::string output_or(const std::string& output, const std::string& fallback) {
  return output.empty() ? fallback : output;
}

}  // namespace glpdepth::cli
