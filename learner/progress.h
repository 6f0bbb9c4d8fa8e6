// Progress of `grpo train` and `grpo sft` on the terminal: a bar with the rate and ETA redrawn in
// place when the stream is a TTY, plain lines (one per `plain_every` steps, plus the first and
// the last) when it is not (logs, CI), so a log file never fills with carriage returns.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace grpo::learner {

class Progress {
 public:
  // `start`: steps already done before this process (a resumed run), so the rate and the ETA
  // count only the steps this process does. `tty`: -1 = ask isatty() about `out`.
  Progress(std::string label, long total, long start = 0, long plain_every = 1, std::FILE* out = stderr, int tty = -1);
  ~Progress();

  // Step `done` (1-based) finished; `detail` is what the step reports (loss, reward, ...).
  void update(long done, const std::string& detail);

  // The text shown for step `done` after `elapsed_s` seconds: "label [####....] 12/40 detail 1.2 s/step ETA 34s"
  // (the bar only when `bar`). Public for tests.
  std::string line(long done, const std::string& detail, double elapsed_s, bool bar) const;

  static std::string format_duration(double seconds);  // "42s", "3m05s", "2h07m"
  bool is_tty() const { return tty_; }

 private:
  std::string label_;
  long total_, start_, plain_every_;
  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace grpo::learner
