#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "learner/progress.h"

using grpo::learner::Progress;

namespace {

std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

}  // namespace

TEST(Progress, DurationsReadLikeAClock) {
  EXPECT_EQ(Progress::format_duration(42.4), "42s");
  EXPECT_EQ(Progress::format_duration(185), "3m05s");
  EXPECT_EQ(Progress::format_duration(7620), "2h07m");
  EXPECT_EQ(Progress::format_duration(-1), "?");
}

TEST(Progress, LineHasBarCountRateAndEta) {
  std::FILE* f = std::tmpfile();
  Progress p("train", 40, /*start=*/0, 1, f, /*tty=*/0);
  // 10 of 40 in 20 s: 2 s/step, 30 steps left → ETA 60 s.
  EXPECT_EQ(p.line(10, "loss 0.5", 20.0, true),
            "train [######..................] 10/40  loss 0.5  2.00s/step  ETA 1m00s");
  EXPECT_EQ(p.line(40, "", 80.0, false), "train 40/40  2.00s/step");
  std::fclose(f);
}

TEST(Progress, ResumedRunCountsOnlyItsOwnSteps) {
  std::FILE* f = std::tmpfile();
  Progress p("train", 20, /*start=*/10, 1, f, 0);
  // Steps 11 and 12 in 4 s: 2 s/step, 8 left.
  EXPECT_EQ(p.line(12, "", 4.0, false), "train 12/20  2.00s/step  ETA 16s");
  std::fclose(f);
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("sft", 10, 0, /*plain_every=*/5, f, /*tty=*/0);
    for (long s = 1; s <= 10; ++s) p.update(s, "x");
  }
  const std::string out = contents(f);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  // The first step, every 5th and the last: steps 1, 5, 10.
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;
  EXPECT_NE(out.find("sft  1/10  x"), std::string::npos) << out;
  EXPECT_NE(out.find("sft 10/10  x"), std::string::npos) << out;
  std::fclose(f);
}

TEST(Progress, RedrawsInPlaceOnATerminal) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("train", 3, 0, 1, f, /*tty=*/1);
    for (long s = 1; s <= 3; ++s) p.update(s, "");
  }
  const std::string out = contents(f);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 3);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);  // only the final newline
  EXPECT_NE(out.find("[########################] 3/3"), std::string::npos) << out;
  std::fclose(f);
}
