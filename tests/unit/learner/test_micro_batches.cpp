#include <gtest/gtest.h>

#include "learner/micro_batches.h"

using namespace grpo::learner;

TEST(MicroBatches, PlanRespectsTheBudgetAndSortsByLength) {
  std::vector<size_t> lengths = {10, 3, 7, 3, 12, 5};
  auto plan = plan_micro_batches(lengths, 16);
  // sorted: 3(1) 3(3) 5(5) 7(2) 10(0) 12(4) → [1,3,5] (3×5=15), [2] (7×2=14 ok with next? 10×2=20 > 16) ...
  std::vector<std::vector<size_t>> want = {{1, 3, 5}, {2}, {0}, {4}};
  EXPECT_EQ(plan, want);
  for (const auto& mb : plan) {
    size_t longest = 0;
    for (size_t i : mb) longest = std::max(longest, lengths[i]);
    EXPECT_TRUE(mb.size() == 1 || longest * mb.size() <= 16);
  }
}

TEST(MicroBatches, OversizedSequenceGetsItsOwnBatch) {
  auto plan = plan_micro_batches({100, 2, 2}, 8);
  std::vector<std::vector<size_t>> want = {{1, 2}, {0}};
  EXPECT_EQ(plan, want);
}

TEST(MicroBatches, CollateShiftsTargetsAndMasksThePrompt) {
  std::vector<TrainSequence> seqs = {{{5, 6, 7, 8}, 2}, {{9, 10, 11}, 1}};
  auto m = collate(seqs, {0, 1}, /*pad_id=*/0);
  EXPECT_TRUE(torch::equal(m.input, torch::tensor({{5L, 6L, 7L, 8L}, {9L, 10L, 11L, 0L}})));
  EXPECT_TRUE(torch::equal(m.attention, torch::tensor({{1L, 1L, 1L, 1L}, {1L, 1L, 1L, 0L}})));
  EXPECT_TRUE(torch::equal(m.targets, torch::tensor({{6L, 7L, 8L}, {10L, 11L, 0L}})));
  // seq 0: completion tokens 7, 8 are targets at positions 1, 2. seq 1: 10, 11 at 0, 1.
  EXPECT_TRUE(torch::equal(m.loss_mask, torch::tensor({{0.f, 1.f, 1.f}, {1.f, 1.f, 0.f}})));
  auto aligned = align_to_targets(m, seqs, {{-0.5f, -0.25f}, {-1.f, -2.f}});
  EXPECT_TRUE(torch::equal(aligned, torch::tensor({{0.f, -0.5f, -0.25f}, {-1.f, -2.f, 0.f}})));
}

TEST(MicroBatches, BadPromptLengthIsRejected) {
  std::vector<TrainSequence> seqs = {{{1, 2}, 0}};
  EXPECT_THROW(collate(seqs, {0}, 0), std::exception);
}
