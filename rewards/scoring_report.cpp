#include "rewards/scoring_report.h"

#include <map>
#include <sstream>

namespace grpo::rewards {
namespace {

using nlohmann::json;

std::string metrics_text(const std::map<std::string, double>& metrics) {
  std::string out;
  char buf[64];
  for (const auto& [k, v] : metrics) {
    std::snprintf(buf, sizeof buf, "%g", v);
    out += " " + k + "=" + buf;
  }
  return out;
}

}  // namespace

void print_scored_batch(std::FILE* out, const ScoredBatch& batch, const ScoringRun& run, bool as_json) {
  long long samples = 0, applicable = 0, failures = 0;
  double sum = 0, script_seconds = 0;
  std::map<std::string, long long> statuses;
  for (size_t g = 0; g < batch.groups.size(); ++g) {
    for (size_t s = 0; s < batch.groups[g].size(); ++s) {
      const auto& r = batch.groups[g][s];
      const long long index = samples++;
      ++statuses[score_status_name(r.status)];
      script_seconds += r.seconds;
      if (r.failed()) ++failures;
      if (r.applicable()) {
        ++applicable;
        sum += r.score;
      }
      if (as_json) {
        json line = {{"index", index},
                     {"group", g},
                     {"score", r.applicable() ? json(r.score) : json()},
                     {"status", score_status_name(r.status)},
                     {"metrics", r.metrics},
                     {"error", r.error.empty() ? json() : json(r.error)}};
        std::fprintf(out, "%s\n", line.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
      } else {
        std::string score = r.applicable() ? std::to_string(r.score) : "n/a";
        std::fprintf(out, "#%-5lld group %-4zu %-10s %-14s%s\n", index, g, score.c_str(), score_status_name(r.status),
                     metrics_text(r.metrics).c_str());
        if (r.failed()) {
          std::istringstream lines(r.error);
          for (std::string l; std::getline(lines, l);) std::fprintf(out, "        | %s\n", l.c_str());
        }
      }
    }
  }
  const double mean = applicable ? sum / static_cast<double>(applicable) : 0.0;
  const double per_sample = samples ? script_seconds / static_cast<double>(samples) : 0.0;
  if (as_json) {
    json summary = {{"samples", samples},
                    {"groups", batch.groups.size()},
                    {"mean", applicable ? json(mean) : json()},
                    {"failures", failures},
                    {"not_applicable", samples - applicable},
                    {"statuses", statuses},
                    {"seconds_per_sample", per_sample},
                    {"wall_seconds", run.wall_seconds},
                    {"workers", run.workers},
                    {"workers_killed", run.workers_killed},
                    {"script", run.script},
                    {"script_sha256", batch.script_sha256}};
    std::fprintf(out, "%s\n", json{{"summary", summary}}.dump().c_str());
  } else {
    std::string counts;
    for (const auto& [k, v] : statuses) counts += " " + k + "=" + std::to_string(v);
    std::fprintf(out,
                 "\nsummary: %lld samples in %zu groups, mean score %.6g over %lld scored, %lld failures, %lld not "
                 "applicable\n         statuses:%s\n         %.2f us per sample in the script, %.3f s wall with %d "
                 "worker(s)\n         script %s sha256 %s\n",
                 samples, batch.groups.size(), mean, applicable, failures, samples - applicable, counts.c_str(),
                 per_sample * 1e6, run.wall_seconds, run.workers, run.script.c_str(), batch.script_sha256.c_str());
  }
}

}  // namespace grpo::rewards
