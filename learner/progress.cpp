#include "learner/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace grpo::learner {

Progress::Progress(std::string label, long total, long start, long plain_every, std::FILE* out, int tty)
    : label_(std::move(label)),
      total_(std::max(1L, total)),
      start_(start),
      plain_every_(std::max(1L, plain_every)),
      out_(out),
      tty_(tty < 0 ? ::isatty(::fileno(out)) != 0 : tty != 0),
      t0_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (tty_ && drawn_) std::fputc('\n', out_);  // leave the last bar on its own line
}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = std::lround(s);
  if (t < 60)
    std::snprintf(buf, sizeof buf, "%lds", t);
  else if (t < 3600)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  return buf;
}

std::string Progress::line(long done, const std::string& detail, double elapsed_s, bool bar) const {
  std::string out = label_;
  if (bar) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::clamp(static_cast<double>(done) / total_, 0.0, 1.0));
    out += " [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
  }
  const int digits = static_cast<int>(std::to_string(total_).size());
  char count[64];
  std::snprintf(count, sizeof count, " %*ld/%ld", digits, done, total_);
  out += count;
  if (!detail.empty()) out += "  " + detail;
  const long this_run = done - start_;
  if (this_run > 0) {
    const double per_step = elapsed_s / static_cast<double>(this_run);
    char rate[48];
    std::snprintf(rate, sizeof rate, "  %.2fs/step", per_step);
    out += rate;
    if (done < total_) out += "  ETA " + format_duration(per_step * static_cast<double>(total_ - done));
  }
  return out;
}

void Progress::update(long done, const std::string& detail) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  if (tty_) {
    // \r and "erase to end of line" redraw the bar in place.
    std::fprintf(out_, "\r%s\033[K", line(done, detail, elapsed, /*bar=*/true).c_str());
    drawn_ = true;
  } else if (done == start_ + 1 || done == total_ || done % plain_every_ == 0) {
    std::fprintf(out_, "%s\n", line(done, detail, elapsed, /*bar=*/false).c_str());
  }
  std::fflush(out_);
}

}  // namespace grpo::learner
