// `glpdepth eval-pngs`: offline metrics of a folder of 16-bit prediction PNGs against ground truth
// (the eval_with_pngs.py workflow, spec 3.2). Every *.png of --pred is evaluated in sorted name
// order; its ground truth is found from the name:
//   kitti  <drive>_<frame>.png -> GT/data_depth_annotated/{train,val}/<drive>/proj_depth/
//          groundtruth/image_02/<frame>.png
//   nyu    <scene>_rgb_<frame>.png -> GT/official_splits/test/<scene>/sync_depth_<frame>.png
//   flat   GT/<same file name>
// `--gt_layout auto` tries the dataset's layout, then flat.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli.h"
#include "flags.h"
#include "glpdepth/data/gt_layout.h"
#include "glpdepth/util/strings.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/metrics.h"
#include "glpdepth/eval/results.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"

namespace glpdepth::cli {
namespace {
namespace fs = std::filesystem;

struct EvalPngsCli {
  std::string pred;
  std::string gt;
  DatasetKind dataset = DatasetKind::kKitti;
  GtLayout gt_layout = GtLayout::kAuto;
  std::string split;  // the original's KITTI ground-truth split name
  double png_scale = 0;
  double gt_scale = 0;
  EvalSettings eval;
  int do_kb_crop = 1;
  bool garg_crop = false;
  bool eigen_crop = false;
  bool skip_missing_gt = false;
  std::string output;
  std::string per_image;
  bool overwrite = false;
};

// The dataset's own ground-truth layout, which --gt_layout auto tries first.
GtLayout dataset_gt_layout(DatasetKind dataset) {
  if (dataset == DatasetKind::kKitti) return GtLayout::kKitti;
  if (dataset == DatasetKind::kNyuDepthV2) return GtLayout::kNyu;
  return GtLayout::kFlat;
}

void run_eval_pngs(const EvalPngsCli& o, const CommonOptions& common) {
  apply_threads(common);
  check_do_kb_crop(o.do_kb_crop);
  EvalSettings settings = o.eval;
  settings.dataset = o.dataset;
  if (o.garg_crop && o.eigen_crop)
    throw UsageError("--garg_crop and --eigen_crop exclude each other");
  if (o.garg_crop) settings.kitti_crop = EvalCrop::kGarg;
  if (o.eigen_crop) settings.kitti_crop = EvalCrop::kEigen;
  if (settings.max_depth_eval <= 0) settings.max_depth_eval = dataset_defaults(settings.dataset).max_depth_eval;
  if (!(settings.max_depth_eval > settings.min_depth_eval)) {
    throw UsageError(cat("--max_depth_eval (", settings.max_depth_eval,
                         ") must exceed --min_depth_eval (", settings.min_depth_eval, ")"));
  }
  const double scale = o.png_scale > 0 ? o.png_scale : dataset_defaults(settings.dataset).depth_scale;
  const double gt_scale = o.gt_scale > 0 ? o.gt_scale : dataset_defaults(settings.dataset).depth_scale;
  GtLayout layout = o.gt_layout;
  // The original's --split names the KITTI ground-truth layout; only eigen_benchmark exists.
  if (!o.split.empty()) {
    if (o.split != "eigen_benchmark")
      throw UsageError(cat("--split ", o.split, ": the original knew only eigen_benchmark (the "
                           "KITTI data_depth_annotated layout); for other layouts use --gt_layout "
                           "kitti, nyu or flat"));
    layout = GtLayout::kKitti;
  }

  const fs::path pred_dir = o.pred, gt_dir = o.gt;
  std::error_code ec;
  check(fs::is_directory(pred_dir, ec), "--pred: folder ", pred_dir.string(), " does not exist");
  check(fs::is_directory(gt_dir, ec), "--gt: folder ", gt_dir.string(), " does not exist");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(pred_dir)) {
    if (entry.is_regular_file() && to_lower(entry.path().extension().string()) == ".png") {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  check(!names.empty(), "--pred: folder ", pred_dir.string(), " holds no .png predictions");

  MetricAccumulator accumulator;
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    const fs::path pred_path = pred_dir / name;
    const auto candidates =
        gt_candidates(gt_dir, name, layout, dataset_gt_layout(settings.dataset));
    const fs::path gt_path = first_existing_file(candidates);
    if (gt_path.empty()) {
      if (o.skip_missing_gt) {
        missing.push_back(name);
        continue;
      }
      std::string tried;
      for (const fs::path& c : candidates) tried += "\n  " + c.string();
      throw Error(cat("no ground truth for prediction ", pred_path.string(), "; tried:", tried,
                      "\n(use --gt_layout or --skip_missing_gt)"));
    }
    torch::Tensor pred = read_depth_png16(pred_path, scale);
    torch::Tensor gt = read_depth_png16(gt_path, gt_scale);
    try {
      evaluate_image(accumulator, settings, pred, gt, name);
    } catch (const Error& e) {
      throw Error(cat("prediction ", pred_path.string(), " vs ground truth ", gt_path.string(),
                      ": ", e.what()));
    }
  }

  ResultsFiles files;
  files.metrics_json = claim_file(o.output.empty() ? pred_dir / "metrics.json" : fs::path(o.output),
                                  o.overwrite, "eval-pngs");
  files.per_image_csv = o.per_image.empty()
                            ? per_image_csv_path(files.metrics_json)
                            : claim_file(o.per_image, o.overwrite, "eval-pngs");
  nlohmann::json extra = {{"tool", "glpdepth eval-pngs"},
                          {"pred", pred_dir.string()},
                          {"gt", gt_dir.string()},
                          {"scale", scale},
                          {"gt_scale", gt_scale},
                          {"gt_layout", gt_layout_name(layout)},
                          {"missing_gt", missing}};
  std::cout << report_results(accumulator, settings, MetricTable::kKittiBenchmark, files, extra);
  if (!missing.empty()) {
    std::cout << missing.size() << " prediction(s) without ground truth skipped\n";
  }
  std::cout << "wrote " << files.metrics_json.string() << " and " << files.per_image_csv.string()
            << "\n";
}

void setup_eval_pngs(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<EvalPngsCli>();
  command.add_option("--pred,--pred_path,--pred-path", o->pred,
                     "folder of 16-bit prediction PNGs (depth x --png_scale)")
      ->required()
      ->group(section::kData);
  command.add_option("--gt,--gt_path,--gt-path", o->gt,
                     "ground-truth root (KITTI: holding data_depth_annotated/; NYU: holding "
                     "official_splits/; flat: same file names)")
      ->required()
      ->group(section::kData);
  add_dataset_name_flag(command, o->dataset);
  add_enum_option(command, "gt_layout", o->gt_layout,
                  {{"auto", GtLayout::kAuto}, {"kitti", GtLayout::kKitti}, {"nyu", GtLayout::kNyu},
                   {"flat", GtLayout::kFlat}},
                  "auto (the dataset's layout, then flat), kitti, nyu or flat", section::kData);
  add_option(command, "png_scale", o->png_scale,
             "prediction PNG value per metre (0: the dataset's, 256, NYU 1000)", section::kData)
      ->check(in_range(0, 1e6));
  add_option(command, "gt_scale", o->gt_scale,
             "ground-truth PNG value per metre (0: the dataset's, 256, NYU 1000)", section::kData)
      ->check(in_range(0, 1e6));
  // Its first name, before the two scales were told apart; it meant both.
  command
      .add_option_function<double>(
          "--scale",
          [o](double scale) {
            std::cerr << "note: eval-pngs --scale is now --png_scale and --gt_scale; it sets both\n";
            o->png_scale = scale;
            o->gt_scale = scale;
          },
          "the old name of --png_scale and --gt_scale together: sets both")
      ->type_name("FLOAT")
      ->check(in_range(0, 1e6))
      ->group(section::kCompat);
  add_eval_flags(command, o->eval, o->do_kb_crop);
  add_flag(command, "garg_crop", o->garg_crop, "the original's flag: --kitti_crop garg", section::kCompat);
  add_flag(command, "eigen_crop", o->eigen_crop, "the original's flag: --kitti_crop eigen", section::kCompat);
  add_option(command, "split", o->split,
             "the original's KITTI ground-truth split: eigen_benchmark (= --gt_layout kitti)",
             section::kCompat);
  add_flag(command, "skip_missing_gt", o->skip_missing_gt,
           "skip predictions without ground truth (listed in metrics.json) instead of failing",
           section::kData);
  add_output_flag(command, o->output, "metrics JSON file (default <pred>/metrics.json)", {});
  add_overwrite_flag(command, o->overwrite);
  add_option(command, "per_image", o->per_image, "per-image CSV path (\"\": beside --output)",
             section::kOutput);
  command.callback([o, &common] { run_eval_pngs(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"eval-pngs", "Evaluate a folder of 16-bit prediction PNGs against ground truth",
                  40, setup_eval_pngs});

}  // namespace glpdepth::cli
