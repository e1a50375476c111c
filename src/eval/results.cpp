#include "glpdepth/eval/results.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

// (header, metric name) per column.
std::vector<std::pair<std::string, std::string>> columns(MetricTable style) {
  if (style == MetricTable::kKittiBenchmark) {
    return {{"d1", "d1"},         {"d2", "d2"},           {"d3", "d3"},
            {"AbsRel", "abs_rel"}, {"SqRel", "sq_rel"},     {"RMSE", "rmse"},
            {"RMSElog", "rmse_log"}, {"SILog(KITTI)", "silog_kitti"}, {"log10", "log10"}};
  }
  return {{"d1", "d1"},         {"d2", "d2"},     {"d3", "d3"},
          {"abs_rel", "abs_rel"}, {"sq_rel", "sq_rel"}, {"rmse", "rmse"},
          {"rmse_log", "rmse_log"}, {"log10", "log10"}, {"silog", "silog"}};
}

std::string format_number(double value, const char* format) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

}  // namespace

std::string format_metrics_table(const DepthMetrics& metrics, MetricTable style, int precision) {
  std::string header, values;
  for (const auto& [title, name] : columns(style)) {
    const int width = std::max<int>(10, static_cast<int>(title.size()) + 2);
    char buffer[96];
    std::snprintf(buffer, sizeof(buffer), "%*s", width, title.c_str());
    header += buffer;
    std::snprintf(buffer, sizeof(buffer), "%*.*f", width, precision, metrics.get(name));
    values += buffer;
  }
  return header + "\n" + values + "\n";
}

nlohmann::json metrics_to_json(const DepthMetrics& metrics) {
  nlohmann::json j = nlohmann::json::object();
  auto values = metrics.values();
  for (int i = 0; i < DepthMetrics::kCount; ++i) j[DepthMetrics::names()[i]] = values[i];
  return j;
}

nlohmann::json results_json(const MetricAccumulator& accumulator, const EvalSettings& settings,
                            const nlohmann::json& extra) {
  nlohmann::json j;
  j["dataset"] = to_string(settings.dataset);
  j["protocol"] = settings.dataset == DatasetKind::kKitti
                      ? nlohmann::json(to_string(settings.protocol))
                      : nlohmann::json(nullptr);
  j["crop"] = to_string(effective_crop(settings));
  j["min_depth_eval"] = settings.min_depth_eval;
  j["max_depth_eval"] = settings.max_depth_eval;
  j["description"] = describe(settings);
  j["images"] = accumulator.images();
  j["skipped_images"] = accumulator.skipped();
  j["pixels"] = static_cast<int64_t>(accumulator.pixels());
  j["metrics"] = metrics_to_json(accumulator.mean());
  j["pooled_metrics"] = metrics_to_json(accumulator.pooled());
  j["averaging"] = "metrics: mean over images of per-image metrics (empty-mask images skipped); "
                   "pooled_metrics: all evaluated pixels together";
  j["silog_conventions"] = "silog: sqrt(mean(e^2) - 0.5 mean(e)^2), lambda 0.5, no x100 "
                           "(GLPDepth metrics.py); silog_kitti: 100 sqrt(mean(e^2) - mean(e)^2) "
                           "(KITTI benchmark, eval_with_pngs.py); e = ln pred - ln gt";
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  }
  return j;
}

std::string per_image_csv(const MetricAccumulator& accumulator) {
  std::string out = "name,pixels";
  for (const char* name : DepthMetrics::names()) out += cat(",", name);
  out += "\n";
  for (const ImageResult& r : accumulator.per_image()) {
    // Names come from file names; quote them if they could break the CSV.
    std::string name = r.name;
    if (name.find_first_of(",\"\n") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      name = quoted + "\"";
    }
    out += cat(name, ",", r.pixels);
    for (int i = 0; i < DepthMetrics::kCount; ++i) {
      out += ",";
      if (r.metrics) out += format_number(r.metrics->values()[i], "%.9g");
    }
    out += "\n";
  }
  return out;
}

std::filesystem::path per_image_csv_path(const std::filesystem::path& metrics_json) {
  std::string stem = metrics_json.stem().string();
  return metrics_json.parent_path() /
         (stem == "metrics" ? std::string("per_image.csv") : stem + "_per_image.csv");
}

std::string report_results(const MetricAccumulator& accumulator, const EvalSettings& settings,
                           MetricTable style, const ResultsFiles& files,
                           const nlohmann::json& extra) {
  if (!files.metrics_json.empty()) {
    write_bytes_atomic(files.metrics_json, results_json(accumulator, settings, extra).dump(2) + "\n");
  }
  if (!files.per_image_csv.empty()) {
    write_bytes_atomic(files.per_image_csv, per_image_csv(accumulator));
  }
  std::string text = format_metrics_table(accumulator.mean(), style);
  text += cat("images: ", accumulator.images(), " evaluated, ", accumulator.skipped(),
              " skipped (no valid pixel in the mask)\n");
  text += describe(settings) + "\n";
  return text;
}

}  // namespace glpdepth
