#include <gtest/gtest.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "learner/sft_data.h"

using namespace grpo::learner;

namespace {

std::string write_rows(const std::string& text) {
  const std::string path = "/tmp/grpo_test_sft_data_" + std::to_string(::getpid()) + ".jsonl";
  grpo::write_file_atomic(path, text);
  return path;
}

}  // namespace

TEST(SftData, EosEndsEveryCompletionOnceWhenGiven) {
  const std::string path = write_rows(
      "{\"prompt_tokens\": [0, 10], \"completion_tokens\": [20, 21]}\n"
      "{\"prompt_tokens\": [0, 12], \"completion_tokens\": [30, 1]}\n");
  auto with = read_sft_data(path, nullptr, 64, std::nullopt, /*eos_token_id=*/1);
  ASSERT_EQ(with.size(), 2u);
  EXPECT_EQ(with[0].tokens, (std::vector<int64_t>{0, 10, 20, 21, 1}));  // appended
  EXPECT_EQ(with[0].prompt_len, 2);
  EXPECT_EQ(with[1].tokens, (std::vector<int64_t>{0, 12, 30, 1}));  // already there: not doubled
  auto without = read_sft_data(path, nullptr, 64, std::nullopt);
  EXPECT_EQ(without[0].tokens, (std::vector<int64_t>{0, 10, 20, 21}));  // rows exactly as given
  ::unlink(path.c_str());
}
