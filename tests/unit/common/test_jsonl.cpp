// The one JSONL reader (common/jsonl.h): real line numbers, blank lines skipped, bad lines named
// by file and line (or skipped in a run's own logs), and hostile nesting refused without
// building it.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "common/jsonl.h"

namespace grpo {
namespace {

TEST(Jsonl, ValuesComeWithTheirLineNumbersAndBlankLinesAreSkipped) {
  const auto rows = parse_jsonl("{\"a\": 1}\n\n  \n[2, 3]\r\n\"x\"\n", "in.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].line, 1);
  EXPECT_EQ(rows[0].value.at("a"), 1);
  EXPECT_EQ(rows[1].line, 4);
  EXPECT_EQ(rows[2].line, 5);
  EXPECT_EQ(rows[2].value, "x");
}

TEST(Jsonl, ABadLineIsAnErrorNamingFileAndLineOrSkippedInLogs) {
  const std::string text = "{\"a\": 1}\n{\"a\": \n{\"a\": 3}\n";
  try {
    parse_jsonl(text, "data/train.jsonl");
    FAIL() << "a torn line was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data/train.jsonl: line 2: is not valid JSON"), std::string::npos) << e.what();
  }
  const auto kept = parse_jsonl(text, "metrics.jsonl", BadJsonlLine::kSkip);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].line, 3);
}

TEST(Jsonl, NestingPastTheBoundIsRefusedAndTheStackSurvives) {
  const std::string ok = std::string(kMaxJsonlDepth - 1, '[') + std::string(kMaxJsonlDepth - 1, ']');
  EXPECT_EQ(parse_jsonl(ok, "ok.jsonl").size(), 1u);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');  // would overflow a recursive copy
  try {
    parse_jsonl("{}\n" + deep + "\n", "rows.jsonl");
    FAIL() << "a row 100,000 levels deep was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows.jsonl: line 2: nests deeper than 256 levels"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(parse_jsonl("{}\n" + deep + "\n{}\n", "log", BadJsonlLine::kSkip).size(), 2u);
}

TEST(Jsonl, AMissingFileIsAnErrorNamingIt) { EXPECT_THROW(read_jsonl("/nonexistent/grpo/prompts.jsonl"), Error); }

}  // namespace
}  // namespace grpo
