// grpo reward: score completions with a Lua reward script — the tool users test scripts with.
// Prints one line (or, with --json, one JSON object) per sample and a summary. Exit code 0
// even when samples fail; 1 when the script does not load or the input is malformed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/jsonl.h"
#include "rewards/reward_sample.h"
#include "rewards/scorer.h"

namespace grpo::cli {
namespace {

using nlohmann::json;

const char* kUsage =
    "usage: grpo reward SCRIPT.lua DATA.jsonl [--completions FILE.jsonl] [--json] [--workers N]\n"
    "                   [--fallback X] [--timeout-ms MS] [--instructions N] [--memory-mb MB] [--seed S]\n"
    "       grpo reward SCRIPT.lua --input DATA.jsonl ...\n"
    "\n"
    "Scores every sample with the script's reward(sample) (or reward_group(samples)) in the sandbox and\n"
    "prints the score, the metrics and any failure with its message and traceback, then a summary.\n"
    "\n"
    "DATA.jsonl   one JSON object per line: `prompt` and whatever the script reads (`answer`, `tests`, ...).\n"
    "             A row may carry its own `completion` (and `finish_reason`); consecutive rows with the same\n"
    "             prompt form one group (the `index` the script sees, from 1).\n"
    "--completions FILE.jsonl   completions line by line instead: a JSON string or an object with\n"
    "             `completion` (and `finish_reason`). With k lines per data row (k x rows lines), each row\n"
    "             gets k consecutive completions as one group.\n"
    "--json       one JSON object per sample (index, group, score, status, metrics, error), then\n"
    "             {\"summary\": {...}}\n"
    "--workers N  worker processes (default 1; 0 scores in this process without the hard deadline)\n"
    "--fallback X score of a failed sample (default 0)\n"
    "--timeout-ms MS, --instructions N, --memory-mb MB   per-sample limits (defaults 2000, 2e7, 64)\n"
    "Exit code: 0 when the script ran (even if samples failed), 1 when it does not load, 2 for usage.";

std::vector<json> read_values(const std::string& path) {
  std::vector<json> rows;
  for (auto& line : read_jsonl(path)) rows.push_back(std::move(line.value));
  return rows;
}

// A row's or a completion line's own finish reason, "stop" when it has none.
std::string finish_reason_of(const json& j) {
  const auto it = j.find("finish_reason");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string("stop");
}

// Builds the groups: with --completions, k completions per row; else the rows' own
// completions, consecutive rows with equal prompts grouped.
std::vector<rewards::SampleGroup> build_groups(const std::string& data_path, const std::vector<json>& rows,
                                               const std::string& comp_path, const std::vector<json>* completions) {
  std::vector<rewards::SampleGroup> groups;
  for (size_t i = 0; i < rows.size(); ++i)
    if (!rows[i].is_object())
      throw file_error(data_path, "line " + std::to_string(i + 1), "must be a JSON object with the row's fields");
  if (completions) {
    if (rows.empty() || completions->empty() || completions->size() % rows.size() != 0)
      throw file_error(comp_path, "",
                       std::to_string(completions->size()) + " completions for " + std::to_string(rows.size()) +
                           " data rows; expected a multiple of the row count (k completions per row)");
    const size_t k = completions->size() / rows.size();
    for (size_t r = 0; r < rows.size(); ++r) {
      rewards::SampleGroup group;
      for (size_t c = 0; c < k; ++c) {
        const json& line = (*completions)[r * k + c];
        if (line.is_string()) {
          group.push_back(rewards::reward_sample(rows[r], line.get<std::string>(), finish_reason_of(rows[r])));
        } else if (line.is_object() && line.contains("completion") && line["completion"].is_string()) {
          group.push_back(rewards::reward_sample(rows[r], line["completion"].get<std::string>(),
                                                 finish_reason_of(line.contains("finish_reason") ? line : rows[r])));
        } else {
          throw file_error(comp_path, "line " + std::to_string(r * k + c + 1),
                           "expected a JSON string or an object with a string `completion`");
        }
      }
      groups.push_back(std::move(group));
    }
    return groups;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].contains("completion") || !rows[i]["completion"].is_string())
      throw file_error(data_path, "line " + std::to_string(i + 1) + ": completion",
                       "missing or not a string; give each row a `completion` or pass --completions FILE.jsonl");
    json sample = rewards::reward_sample(rows[i], rows[i]["completion"].get<std::string>(), finish_reason_of(rows[i]));
    const bool same_prompt =
        !groups.empty() && groups.back().back().value("prompt", json()) == sample.value("prompt", json());
    if (!same_prompt) groups.emplace_back();
    groups.back().push_back(std::move(sample));
  }
  return groups;
}

std::string metrics_text(const std::map<std::string, double>& metrics) {
  std::string out;
  char buf[64];
  for (const auto& [k, v] : metrics) {
    std::snprintf(buf, sizeof buf, "%g", v);
    out += " " + k + "=" + buf;
  }
  return out;
}

int run(const std::vector<std::string>& argv) {
  Args args("reward",
            {{"--input", true, "data file"},
             {"--completions", true, "completions file"},
             {"--json", false, "JSON lines output"},
             {"--workers", true, "worker processes"},
             {"--fallback", true, "score of a failed sample"},
             {"--timeout-ms", true, "per-sample wall clock"},
             {"--instructions", true, "per-sample instruction budget"},
             {"--memory-mb", true, "memory cap of a Lua state"},
             {"--seed", true, "math.random seed"}},
            argv);
  const std::string script = args.positional_at(0, "SCRIPT.lua");
  require_exists(script, "reward script");
  std::string data = args.get("--input", "");
  if (data.empty()) data = args.positional_at(1, "DATA.jsonl (or --input FILE.jsonl)");
  if (args.positional().size() > (args.has("--input") ? 1u : 2u))
    throw UsageError("unexpected argument '" + args.positional().back() + "'");
  require_exists(data, "data file");
  const std::string comp_path = args.get("--completions", "");
  if (!comp_path.empty()) require_exists(comp_path, "completions file");

  rewards::ScorerOptions options;
  options.workers = static_cast<int>(args.get_int("--workers", 1));
  options.script.fallback = args.get_double("--fallback", 0.0);
  options.script.limits.timeout_ms = static_cast<int>(args.get_int("--timeout-ms", 2000));
  options.script.limits.instructions = static_cast<long long>(args.get_double("--instructions", 2e7));
  options.script.limits.memory_bytes = static_cast<size_t>(args.get_int("--memory-mb", 64)) << 20;
  options.script.seed = args.get_int("--seed", 1);
  if (options.workers < 0 || options.workers > 256) throw UsageError("--workers must be in [0, 256]");
  if (options.script.limits.timeout_ms <= 0) throw UsageError("--timeout-ms must be positive");
  const bool as_json = args.has("--json");

  const std::vector<json> rows = read_values(data);
  std::vector<json> completions;
  if (!comp_path.empty()) completions = read_values(comp_path);
  auto groups = build_groups(data, rows, comp_path, comp_path.empty() ? nullptr : &completions);

  rewards::Scorer scorer(script, options);  // throws grpo::Error when the script does not load
  const auto t0 = std::chrono::steady_clock::now();
  rewards::ScoredBatch batch = scorer.score(groups);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  long long samples = 0, applicable = 0, failures = 0;
  double sum = 0, script_seconds = 0;
  std::map<std::string, long long> statuses;
  for (size_t g = 0; g < batch.groups.size(); ++g) {
    for (size_t s = 0; s < batch.groups[g].size(); ++s) {
      const auto& r = batch.groups[g][s];
      const long long index = samples++;
      ++statuses[rewards::score_status_name(r.status)];
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
                     {"status", rewards::score_status_name(r.status)},
                     {"metrics", r.metrics},
                     {"error", r.error.empty() ? json() : json(r.error)}};
        std::printf("%s\n", line.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
      } else {
        std::string score = r.applicable() ? std::to_string(r.score) : "n/a";
        std::printf("#%-5lld group %-4zu %-10s %-14s%s\n", index, g, score.c_str(),
                    rewards::score_status_name(r.status), metrics_text(r.metrics).c_str());
        if (r.failed()) {
          std::istringstream lines(r.error);
          for (std::string l; std::getline(lines, l);) std::printf("        | %s\n", l.c_str());
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
                    {"wall_seconds", wall},
                    {"workers", options.workers},
                    {"workers_killed", scorer.stats().workers_killed},
                    {"script", script},
                    {"script_sha256", batch.script_sha256}};
    std::printf("%s\n", json{{"summary", summary}}.dump().c_str());
  } else {
    std::string counts;
    for (const auto& [k, v] : statuses) counts += " " + k + "=" + std::to_string(v);
    std::printf(
        "\nsummary: %lld samples in %zu groups, mean score %.6g over %lld scored, %lld failures, %lld not "
        "applicable\n         statuses:%s\n         %.2f us per sample in the script, %.3f s wall with %d "
        "worker(s)\n         script %s sha256 %s\n",
        samples, batch.groups.size(), mean, applicable, failures, samples - applicable, counts.c_str(),
        per_sample * 1e6, wall, options.workers, script.c_str(), batch.script_sha256.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace grpo::cli

GRPO_COMMAND("reward", "score completions with a Lua reward script (test a script)", grpo::cli::kUsage, grpo::cli::run,
             60);
