// `glpdepth test`: evaluates a checkpoint on a dataset with depth (KITTI Eigen, DrivingStereo,
// NYU v2, our synthetic sets) and optionally writes the 16-bit eval PNGs and colour
// visualisations (spec 6.3, 7; fixes B3, B5, B10, B11, B15).
// The evaluation itself (windows, protocols, metrics, outputs) is the library's evaluator
// (eval/evaluator.h), the same one that validates during training.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "flags.h"
#include "glpdepth/data/location.h"
#include "glpdepth/util/progress.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/eval/baseline.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/setup.h"
#include "glpdepth/eval/results.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/precision.h"

namespace glpdepth::cli {
namespace {
namespace fs = std::filesystem;

struct TestCli {
  DatasetKind dataset = DatasetKind::kKitti;
  std::string data_path;
  std::string test_list;
  Split eval_split = Split::kTest;
  WindowChoice window = WindowChoice::kAuto;
  int window_h = 0, window_w = 0;
  int workers = 4;
  bool skip_bad_samples = false;
  std::string ckpt;
  bool random_weights = false;
  PredictorOptions predictor;
  EvalSettings eval;
  int do_kb_crop = 1;
  bool do_evaluate = false;
  bool save_eval_pngs = false;
  bool save_visualize = false;
  VisualizationFlags vis;
  std::string output;
  std::string exp_name = "test";
  int64_t batch_size = 0;
  std::string intrinsics;
  bool overwrite = false;
  bool baseline = false;
};

// --baseline: the constant guess (the training list's median depth) scored on the same images, so
// a result reads against what a model that learned nothing would get.
nlohmann::json score_constant_guess(const TestCli& o, const EvaluationRequest& request,
                                    const Evaluation& evaluation, const fs::path& lists_dir) {
  DatasetOptions train = request.data;
  train.split = Split::kTrain;
  train.list = find_or_make_list(train.dataset, train.data_path, Split::kTrain, "", lists_dir).list;
  EvalSettings settings = evaluation.options.settings;
  const double depth = median_depth(*open_eval_data(train, settings, o.window).dataset);
  EvaluatorOptions options;
  options.settings = settings;
  options.input_window = evaluation.options.input_window;
  options.keep_per_image = false;
  Loader loader(evaluation.data.dataset, request.loader);
  const DepthMetrics m = evaluate(constant_depth(depth), loader, options).metrics.mean();
  return {{"depth", depth}, {"list", train.list.string()},
          {"abs_rel", m.abs_rel}, {"rmse", m.rmse}, {"d1", m.d1}};
}

// "constant guess 11.91 m: abs_rel 0.6736 rmse 11.21 d1 0.2375; this model: abs_rel ..."
std::string compare_with_guess(const nlohmann::json& guess, const DepthMetrics& model) {
  std::ostringstream line;
  line << std::fixed << std::setprecision(2) << "constant guess " << guess["depth"].get<double>()
       << " m:" << std::setprecision(4) << " abs_rel " << guess["abs_rel"].get<double>()
       << " rmse " << guess["rmse"].get<double>() << " d1 " << guess["d1"].get<double>()
       << "; this model: abs_rel " << model.abs_rel << " rmse " << model.rmse << " d1 " << model.d1;
  return line.str();
}

void check_flags(const TestCli& o) {
  check_do_kb_crop(o.do_kb_crop);
  check_weights_choice(o.ckpt, o.random_weights, "test");
  if (o.batch_size < 0) throw UsageError("--batch_size must be >= 0 (0: one image per forward)");
  if (o.workers < 0) throw UsageError("--workers must be >= 0");
  if (o.eval.protocol == KittiProtocol::kFullFrame && o.dataset != DatasetKind::kKitti)
    throw UsageError(cat("--protocol full-frame applies to KITTI only, not ", to_string(o.dataset)));
}

// What to evaluate: the flags as an evaluation request (the list found or made first).
EvaluationRequest evaluation_request(const TestCli& o, const fs::path& lists_dir, bool cuda) {
  EvaluationRequest request;
  const DatasetKind dataset = o.dataset;
  const DatasetLocation location = locate_dataset(dataset, o.data_path);
  if (!location.note.empty()) std::cerr << "test: " << location.note << "\n";
  DatasetOptions& data = request.data;
  data.dataset = dataset;
  data.data_path = location.root;
  data.split = o.eval_split;
  if (dataset != DatasetKind::kFolder) {
    const ListsChoice list = find_or_make_list(dataset, location.root, o.eval_split, o.test_list, lists_dir);
    if (!list.note.empty()) std::cerr << "test: " << list.note << "\n";
    data.list = list.list;
  }
  data.window_h = o.window_h;
  data.window_w = o.window_w;
  data.skip_bad_lines = o.skip_bad_samples;
  if (!o.intrinsics.empty()) data.intrinsics = load_intrinsics(o.intrinsics);
  request.settings = o.eval;
  request.window = o.window;
  request.loader.batch_size = std::max<int64_t>(1, o.batch_size);
  request.loader.workers = o.workers;
  request.loader.skip_bad_samples = o.skip_bad_samples;
  request.loader.pin_memory = cuda;
  return request;
}

// The opened data can be evaluated (or at least written out) as the flags ask.
void check_evaluation(const TestCli& o, const Evaluation& evaluation) {
  const Dataset& dataset = *evaluation.data.dataset;
  const std::string name = to_string(o.dataset);
  for (const std::string& line : dataset.skipped_lines()) std::cerr << "skipped: " << line << "\n";
  check(dataset.size() > 0, "dataset ", name, " at ", o.data_path, ": no samples");
  if (!evaluation.data.note.empty())
    std::cerr << "note: " << evaluation.data.note << "; evaluating whole frames (--window auto)\n";
  if (o.do_evaluate && !dataset.has_depth())
    throw UsageError(cat("--do_evaluate: dataset ", name, " at ", o.data_path,
                         " has no depth ground truth to evaluate against"));
  if (!dataset.has_depth() && !(o.save_eval_pngs || o.save_visualize))
    throw UsageError(cat("dataset ", name,
                         " has no depth to evaluate; add --save_eval_pngs or --save_visualize"));
}

// Eval PNGs and visualisations live in different folders, so neither overwrites the other (B15);
// the colour range is fixed, never the image's own maximum.
void add_sinks(const TestCli& o, Evaluation& evaluation, const fs::path& out_dir, double max_depth) {
  const double vis_max = o.vis.vis_max > 0 ? o.vis.vis_max : max_depth;
  if (!(vis_max > o.vis.vis_min))
    throw UsageError(cat("--vis_max (", vis_max, ") must exceed --vis_min (", o.vis.vis_min, ")"));
  auto& sinks = evaluation.options.sinks;
  if (o.save_eval_pngs) sinks.push_back(eval_png_sink(out_dir / "eval_pngs", evaluation.png_scale));
  if (o.save_visualize)
    sinks.push_back(visualize_sink(out_dir / "visualize", o.vis.colormap, o.vis.vis_min, vis_max));
}

EvaluateResult evaluate_with_progress(DepthPredictor& predictor, Evaluation& evaluation) {
  ProgressOptions progress_options;
  progress_options.terminal = stderr_is_terminal();
  progress_options.label = "test";
  progress_options.unit = "batches";
  progress_options.every_seconds = 10;
  ProgressReporter progress(std::cerr, evaluation.loader->num_batches(), progress_options);
  evaluation.options.on_batch = [&progress](int64_t done, int64_t, int64_t images) {
    progress.update(done, cat(images, " images"));
  };
  const EvaluateResult result = evaluate(predictor, *evaluation.loader, evaluation.options);
  progress.finish();
  for (const std::string& message : evaluation.loader->skipped_messages())
    std::cerr << "skipped: " << message << "\n";
  return result;
}

void report(const TestCli& o, const EvaluationRequest& request, const Evaluation& evaluation,
            const DepthPredictor& predictor, const EvaluateResult& result, const fs::path& out_dir,
            const fs::path& lists_dir) {
  std::cout << "test: " << result.images << " images in " << format_seconds(result.seconds)
            << " (" << std::fixed << std::setprecision(1)
            << (result.images ? 1e3 * result.model_seconds / result.images : 0.0)
            << " ms per image in the model)\n";
  if (evaluation.data.dataset->has_depth()) {
    nlohmann::json extra = {
        {"checkpoint", o.ckpt},
        {"checkpoint_kind", predictor.source().description},
        {"encoder", to_string(predictor.model_options().encoder)},
        {"max_depth", predictor.model_options().max_depth},
        {"canonical_focal", predictor.model_options().canonical_focal},
        {"flip_test", o.predictor.flip_test},
        {"backend", to_string(predictor.backend())},
        {"performance_hint", to_string(predictor.options().hint)},
        {"parallel_calls", predictor.parallel_calls()},
        {"precision", precision_name(predictor.precision())},
        {"window", evaluation.data.window_description()},
        {"list", request.data.list.string()},
        {"skipped_samples", evaluation.loader->skipped()},
        {"seconds", result.seconds}};
    if (o.baseline) extra["constant_guess"] = score_constant_guess(o, request, evaluation, lists_dir);
    const std::string text =
        report_results(result.metrics, evaluation.options.settings, MetricTable::kMetricsPy,
                       {out_dir / "metrics.json", out_dir / "per_image.csv"}, extra);
    std::cout << "metrics.py convention (silog: lambda 0.5, no x100), mean over images:\n"
              << text
              << "KITTI benchmark convention (SILog(KITTI): lambda 1, x100), mean over images:\n"
              << format_metrics_table(result.metrics.mean(), MetricTable::kKittiBenchmark)
              << (o.baseline ? compare_with_guess(extra["constant_guess"], result.metrics.mean()) + "\n" : "")
              << "results: " << (out_dir / "metrics.json").string() << ", "
              << (out_dir / "per_image.csv").string() << "\n";
  }
  for (const auto& sink : evaluation.options.sinks) std::cout << sink->describe() << "\n";
}

void run_test(const TestCli& o, const CommonOptions& common) {
  const int threads = apply_threads(common);
  check_flags(o);
  PredictorOptions predictor_options = o.predictor;
  predictor_options.device = resolve_device(common.device);
  const fs::path asked_dir = fs::path(output_or(o.output, "./results")) / o.exp_name;
  const EvaluationRequest request =
      evaluation_request(o, asked_dir.parent_path(), predictor_options.device.is_cuda());
  Evaluation evaluation = open_evaluation(request);
  check_evaluation(o, evaluation);

  const DatasetDefaults& defaults = dataset_defaults(request.data.dataset);
  predictor_options.fallback_max_depth = defaults.max_depth > 0 ? defaults.max_depth : 80.0;
  DepthPredictor predictor = open_predictor(o.ckpt, o.random_weights, predictor_options, "test");
  const double max_depth = predictor.model_options().max_depth;
  // A second run never writes into the first one's folder (its metrics beside the other's PNGs).
  const fs::path out_dir = claim_folder(asked_dir, o.overwrite, "test");
  add_sinks(o, evaluation, out_dir, max_depth);

  std::cerr << "test: " << evaluation.data.dataset->size() << " images of " << to_string(request.data.dataset)
            << " from " << request.data.data_path.string() << ", MiT-"
            << predictor.model_options().encoder << " (" << predictor.source().description
            << (o.ckpt.empty() ? "" : " " + o.ckpt) << "), max_depth " << max_depth << ", "
            << predictor.describe_runtime() << ", " << threads << " threads"
            << (o.predictor.flip_test ? ", flip test" : "") << "\n";
  const EvaluateResult result = evaluate_with_progress(predictor, evaluation);
  report(o, request, evaluation, predictor, result, out_dir, asked_dir.parent_path());
}

void setup_test(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<TestCli>();
  add_dataset_flags(command, {o->dataset, o->data_path, o->window, o->window_h, o->window_w,
                              o->workers, o->skip_bad_samples});
  add_option(command, "test_list", o->test_list,
             "list file (\"\": <dataset>/lists/<eval_split>.txt, made when missing)", section::kData);
  add_enum_option(command, "eval_split", o->eval_split, split_names(),
                  "train, val or test: the default list", section::kData);
  add_intrinsics_flag(command, o->intrinsics,
                      "default: the dataset's calibration or camera.json");
  add_batch_size_flag(command, o->batch_size, "1");
  add_weights_flags(command, o->ckpt, o->random_weights);
  add_model_flags(command, o->predictor.model);
  add_flip_test_flag(command, o->predictor.flip_test);
  add_eval_flags(command, o->eval, o->do_kb_crop);
  add_flag(command, "baseline", o->baseline,
           "also score the constant guess, the median depth of the training list, on the same "
           "images (metrics.json: constant_guess)",
           section::kValidation);
  add_flag(command, "do_evaluate", o->do_evaluate,
           "the original's flag: metrics are computed whenever the data has depth; with this "
           "flag, data without depth is an error",
           section::kCompat);
  add_flag(command, "save_eval_pngs", o->save_eval_pngs,
           "16-bit PNGs (x256, NYU x1000) into <output>/<exp_name>/eval_pngs", section::kOutput);
  add_flag(command, "save_visualize", o->save_visualize,
           "colour maps into <output>/<exp_name>/visualize", section::kOutput);
  add_visualization_flags(command, o->vis);
  add_output_flag(command, o->output, "results go to <output>/<exp_name> (default ./results)",
                  {"--result_dir", "--result-dir"});
  add_exp_name_flag(command, o->exp_name);
  o->predictor.hint = PerformanceHint::kThroughput;  // a folder, a video, a test set
  add_inference_flags(command, o->predictor);
  add_overwrite_flag(command, o->overwrite);
  command.callback([o, &common] { run_test(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"test", "Evaluate a checkpoint on a dataset (metrics, eval PNGs, visualisations)",
                  20, setup_test});

}  // namespace glpdepth::cli
