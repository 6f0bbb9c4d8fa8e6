// Per-step metrics in the run folder: `metrics.jsonl` (one JSON object per line, the source of
// truth that report.html and users' scripts read) and TensorBoard event files (`tb/`), so
// `tensorboard --logdir runs/` shows the same curves.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace grpo::learner {

class MetricsLog {
 public:
  // Creates `run_dir` and `run_dir/tb/` if needed. `resume`: append to an existing metrics.jsonl
  // (a resumed run), else start it anew.
  MetricsLog(const std::string& run_dir, bool resume);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Writes one step's scalars to both files and flushes them (a crash loses at most this line).
  // Non-finite values are written as null in JSON (JSON has no NaN) and as NaN in TensorBoard.
  void log(int64_t step, const std::map<std::string, double>& scalars);

  const std::string& jsonl_path() const { return jsonl_path_; }
  const std::string& events_path() const { return events_path_; }

 private:
  void write_event(const std::string& event_bytes);
  std::string jsonl_path_;
  std::string events_path_;
  std::FILE* jsonl_ = nullptr;
  std::FILE* events_ = nullptr;
};

}  // namespace grpo::learner
