// grpo reward: score completions with a Lua reward script — the tool users test scripts with.
// Prints one line (or, with --json, one JSON object) per sample and a summary. Exit code 0
// even when samples fail; 1 when the script does not load or the input is malformed.
#include <chrono>
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "rewards/reward_inputs.h"
#include "rewards/scorer.h"
#include "rewards/scoring_report.h"

namespace grpo::cli {
namespace {

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

  auto groups = rewards::sample_groups_from_files(data, comp_path);
  rewards::Scorer scorer(script, options);  // throws grpo::Error when the script does not load
  const auto t0 = std::chrono::steady_clock::now();
  const rewards::ScoredBatch batch = scorer.score(groups);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rewards::print_scored_batch(stdout, batch, {script, options.workers, wall, scorer.stats().workers_killed}, as_json);
  return 0;
}

}  // namespace
}  // namespace grpo::cli

GRPO_COMMAND("reward", "score completions with a Lua reward script (test a script)", grpo::cli::kUsage, grpo::cli::run,
             60);
