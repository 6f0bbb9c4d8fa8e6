#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "learner/metrics_log.h"

using namespace grpo::learner;
namespace fs = std::filesystem;

TEST(MetricsLog, WritesJsonLinesAndResumes) {
  // A fresh folder from mkdtemp: std::filesystem::remove_all must not be called in torch-linked
  // code (libtorch exports its own, broken, copy; see model tests).
  std::string tmpl = (fs::temp_directory_path() / "grpo_metrics_XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  {
    MetricsLog log(dir, /*resume=*/false);
    log.log(1, {{"reward/mean", 0.5}, {"loss", 1.25}});
    log.log(2, {{"reward/mean", 0.75}, {"kl", std::nan("")}});
  }
  {
    MetricsLog log(dir, /*resume=*/true);
    log.log(3, {{"reward/mean", 1.0}});
  }
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["step"], 1);
  EXPECT_DOUBLE_EQ(lines[0]["loss"].get<double>(), 1.25);
  EXPECT_TRUE(lines[1]["kl"].is_null());  // JSON has no NaN
  EXPECT_EQ(lines[2]["step"], 3);
  size_t event_files = 0;
  for (auto& e : fs::directory_iterator(dir + "/tb"))
    event_files += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(event_files, 2u);  // one per (re)start, as TensorBoard expects
}
