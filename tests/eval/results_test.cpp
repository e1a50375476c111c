#include "glpdepth/eval/results.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "common/temp_dir.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

TEST(Results, TableColumnsAndPrecision) {
  DepthMetrics m;
  m.d1 = 0.96789;
  m.silog = 0.1;
  m.silog_kitti = 12.3456;
  m.log10 = 0.0424;
  std::string kitti = format_metrics_table(m, MetricTable::kKittiBenchmark);
  std::istringstream in(kitti);
  std::string header, values;
  std::getline(in, header);
  std::getline(in, values);
  std::istringstream hs(header), vs(values);
  std::vector<std::string> h, v;
  for (std::string w; hs >> w;) h.push_back(w);
  for (std::string w; vs >> w;) v.push_back(w);
  EXPECT_EQ(h, (std::vector<std::string>{"d1", "d2", "d3", "AbsRel", "SqRel", "RMSE", "RMSElog",
                                         "SILog(KITTI)", "log10"}));
  ASSERT_EQ(v.size(), 9u);
  EXPECT_EQ(v[0], "0.968");
  EXPECT_EQ(v[7], "12.346");
  EXPECT_EQ(v[8], "0.042");
  std::string py = format_metrics_table(m, MetricTable::kMetricsPy, 4);
  EXPECT_NE(py.find("silog"), std::string::npos);
  EXPECT_NE(py.find("0.1000"), std::string::npos);
  EXPECT_EQ(py.find("SILog(KITTI)"), std::string::npos);
}

TEST(Results, JsonCsvAndFiles) {
  MetricAccumulator acc;
  std::vector<float> p = {1, 2, 3, 4}, g = {1, 2, 2, 4};
  std::vector<uint8_t> none = {0, 0, 0, 0};
  acc.add(p.data(), g.data(), nullptr, 4, "a.png");
  acc.add(p.data(), g.data(), none.data(), 4, "empty.png");
  acc.add(p.data(), g.data(), nullptr, 2, "b,c.png");
  EvalSettings s;
  s.dataset = DatasetKind::kKitti;
  s.kitti_crop = EvalCrop::kGarg;
  s.protocol = KittiProtocol::kFullFrame;

  nlohmann::json j = results_json(acc, s, {{"scale", 256.0}});
  EXPECT_EQ(j["protocol"], "full-frame");
  EXPECT_EQ(j["crop"], "garg");
  EXPECT_EQ(j["images"], 2);
  EXPECT_EQ(j["skipped_images"], 1);
  EXPECT_EQ(j["pixels"], 6);
  EXPECT_EQ(j["scale"], 256.0);
  // a.png: abs_rel = (0.5)/4 = 0.125; b,c.png: 0. Mean over images 0.0625, pooled 0.5/6.
  EXPECT_NEAR(j["metrics"]["abs_rel"].get<double>(), 0.0625, 1e-12);
  EXPECT_NEAR(j["pooled_metrics"]["abs_rel"].get<double>(), 0.5 / 6, 1e-12);
  EXPECT_TRUE(j["metrics"].contains("silog_kitti"));

  std::vector<std::string> lines = split(per_image_csv(acc), '\n');
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "name,pixels,d1,d2,d3,abs_rel,sq_rel,rmse,rmse_log,log10,silog,silog_kitti");
  EXPECT_EQ(lines[2], "empty.png,0,,,,,,,,,,");
  EXPECT_EQ(lines[3].rfind("\"b,c.png\",2,1,", 0), 0u) << lines[3];
  std::vector<std::string> a = split(lines[1], ',');
  ASSERT_EQ(a.size(), 12u);
  EXPECT_NEAR(std::stod(a[5]), 0.125, 1e-9);

  EXPECT_EQ(per_image_csv_path("/x/metrics.json"), std::filesystem::path("/x/per_image.csv"));
  EXPECT_EQ(per_image_csv_path("/x/val.json"), std::filesystem::path("/x/val_per_image.csv"));

  testing::TempDir dir;
  ResultsFiles files{dir / "out" / "metrics.json", dir / "out" / "per_image.csv"};
  std::string text = report_results(acc, s, MetricTable::kKittiBenchmark, files);
  EXPECT_NE(text.find("2 evaluated, 1 skipped"), std::string::npos);
  EXPECT_NE(text.find("full-frame"), std::string::npos);
  auto parsed = nlohmann::json::parse(read_file_bytes(files.metrics_json));
  EXPECT_EQ(parsed["images"], 2);
  EXPECT_EQ(read_file_bytes(files.per_image_csv), per_image_csv(acc));
}

}  // namespace
}  // namespace glpdepth
