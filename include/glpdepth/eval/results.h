// Reporting evaluation results the same way everywhere (test, eval-pngs, validation): a console
// table, metrics.json and per_image.csv, the files written atomically.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/metrics.h"

namespace glpdepth {

// Column sets of the console table.
enum class MetricTable {
  // metrics.py / test.py: d1 d2 d3 abs_rel sq_rel rmse rmse_log log10 silog (lambda 0.5).
  kMetricsPy,
  // eval_with_pngs.py: d1 d2 d3 AbsRel SqRel RMSE RMSElog SILog(KITTI) log10.
  kKittiBenchmark,
};

// Two lines: right-aligned headers and values with `precision` decimals.
std::string format_metrics_table(const DepthMetrics& metrics, MetricTable style,
                                 int precision = 3);

// {"d1": ..., ..., "silog_kitti": ...}
nlohmann::json metrics_to_json(const DepthMetrics& metrics);

// The metrics.json document: settings (dataset, protocol, crop, depth range), image/pixel
// counts, "metrics" (mean over images: the headline figures), "pooled_metrics" (all pixels
// together) and the SILog conventions. `extra` keys (e.g. scale, checkpoint) are merged in.
nlohmann::json results_json(const MetricAccumulator& accumulator, const EvalSettings& settings,
                            const nlohmann::json& extra = nlohmann::json::object());

// name,pixels,d1,...,silog_kitti; skipped images have pixels 0 and empty metric fields.
std::string per_image_csv(const MetricAccumulator& accumulator);

// Where per_image.csv goes for a given metrics.json: same folder, "per_image.csv" (or
// "<stem>_per_image.csv" when the JSON is not named metrics.json).
std::filesystem::path per_image_csv_path(const std::filesystem::path& metrics_json);

struct ResultsFiles {
  std::filesystem::path metrics_json;   // empty = do not write
  std::filesystem::path per_image_csv;  // empty = do not write
};

// Writes the files atomically and returns the console text: the table, then a line with the
// image counts and one describing the settings.
std::string report_results(const MetricAccumulator& accumulator, const EvalSettings& settings,
                           MetricTable style, const ResultsFiles& files,
                           const nlohmann::json& extra = nlohmann::json::object());

}  // namespace glpdepth
