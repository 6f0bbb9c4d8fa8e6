// report.html for a run folder: one self-contained page (inline SVG, no scripts, no network)
// with the SFT loss, reward, accuracy, response length and KL over steps, and the held-out
// evaluation before and after RL.
#pragma once

#include <string>

namespace grpo::actor {

// Reads run_dir/{metrics.jsonl, sft/metrics.jsonl, eval_base.json, eval_final.json, config.json}
// (whichever exist) and writes run_dir/report.html atomically. Returns its path.
std::string write_report_html(const std::string& run_dir);

}  // namespace grpo::actor
