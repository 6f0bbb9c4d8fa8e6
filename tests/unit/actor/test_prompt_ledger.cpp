// The learner's account of prompts (actor/prompt_ledger.h): every prompt of every step ends
// scored exactly once, whatever the workers do.
#include <gtest/gtest.h>

#include "actor/prompt_ledger.h"

using namespace grpo::actor;
using V = PromptLedger::Verdict;
using S = PromptLedger::State;

TEST(PromptLedger, SlotIdsRoundTrip) {
  const uint64_t id = slot_id(123456, 1000000);
  EXPECT_EQ(slot_step(id), 123456);
  EXPECT_EQ(slot_position(id), 1000000u);
}

TEST(PromptLedger, HappyPathCountsEveryPrompt) {
  PromptLedger l(0);
  l.add_step(1, 3);
  auto q = l.queued(10);
  ASSERT_EQ(q.size(), 3u);
  for (auto id : q) l.mark_rolling(id, "rollout-0.0");
  EXPECT_EQ(l.in_flight("rollout-0.0"), 3u);
  for (auto id : q) EXPECT_EQ(l.on_generated(id, 0, 0), V::kAccepted);
  EXPECT_EQ(l.in_flight("rollout-0.0"), 0u);
  for (auto id : l.generated(10)) l.mark_scoring(id, "reward-0.0");
  EXPECT_FALSE(l.step_complete(1));
  for (auto id : q) EXPECT_EQ(l.on_scored(id), V::kAccepted);
  EXPECT_TRUE(l.step_complete(1));
  auto c = l.finish_step(1);
  EXPECT_EQ(c.prompts, 3);
  EXPECT_EQ(c.dispatched, 3);
  EXPECT_EQ(c.scored, 3);
  EXPECT_EQ(c.reassigned + c.duplicates + c.stale, 0);
}

TEST(PromptLedger, LostRolloutWorkerRequeuesOnlyItsSlots) {
  PromptLedger l(0);
  l.add_step(1, 4);
  auto q = l.queued(10);
  l.mark_rolling(q[0], "a");
  l.mark_rolling(q[1], "a");
  l.mark_rolling(q[2], "b");
  l.mark_rolling(q[3], "b");
  ASSERT_EQ(l.on_generated(q[2], 0, 0), V::kAccepted);
  EXPECT_EQ(l.worker_lost("b"), 1u);  // q[3]; q[2] was already back
  EXPECT_EQ(l.state(q[3]), S::kQueued);
  EXPECT_EQ(l.state(q[0]), S::kRolling);
  EXPECT_EQ(l.queued(10), std::vector<uint64_t>{q[3]});
  l.mark_rolling(q[3], "a");
  EXPECT_EQ(l.counts(1).dispatched, 5);
  EXPECT_EQ(l.counts(1).reassigned, 1);
}

TEST(PromptLedger, LostRewardWorkerKeepsTheGeneration) {
  PromptLedger l(0);
  l.add_step(2, 1);
  auto id = l.queued(1).at(0);
  l.mark_rolling(id, "r");
  ASSERT_EQ(l.on_generated(id, 1, 1), V::kAccepted);
  l.mark_scoring(id, "w");
  EXPECT_EQ(l.worker_lost("w"), 1u);
  EXPECT_EQ(l.state(id), S::kGenerated);      // rescored elsewhere, not sampled again
  EXPECT_EQ(l.on_scored(id), V::kDuplicate);  // the lost worker's late answer
  l.mark_scoring(id, "w2");
  EXPECT_EQ(l.on_scored(id), V::kAccepted);
  EXPECT_EQ(l.on_scored(id), V::kDuplicate);
  EXPECT_EQ(l.counts(2).duplicates, 2);
  EXPECT_EQ(l.counts(2).scored, 1);
}

TEST(PromptLedger, SlowWorkerDuplicateIsDropped) {
  PromptLedger l(0);
  l.add_step(1, 1);
  auto id = l.queued(1).at(0);
  l.mark_rolling(id, "slow");
  l.worker_lost("slow");  // declared dead: handed to another
  l.mark_rolling(id, "fast");
  EXPECT_EQ(l.on_generated(id, 0, 0), V::kAccepted);
  EXPECT_EQ(l.on_generated(id, 0, 0), V::kDuplicate);           // the slow one answers after all
  EXPECT_EQ(l.on_generated(slot_id(9, 0), 0, 0), V::kUnknown);  // a step that never existed
}

TEST(PromptLedger, StaleGroupsAreRefusedAndSampledAgain) {
  EXPECT_TRUE(fresh_enough(5, 5, 0));
  EXPECT_FALSE(fresh_enough(6, 5, 0));
  EXPECT_TRUE(fresh_enough(7, 5, 2));
  EXPECT_FALSE(fresh_enough(8, 5, 2));
  PromptLedger l(1);
  l.add_step(3, 2);
  auto q = l.queued(10);
  for (auto id : q) l.mark_rolling(id, "r");
  EXPECT_EQ(l.on_generated(q[0], 0, 2), V::kStale);  // 2 − 0 > 1: refused on arrival
  EXPECT_EQ(l.state(q[0]), S::kQueued);
  EXPECT_EQ(l.on_generated(q[1], 1, 2), V::kAccepted);
  l.mark_scoring(q[1], "w");
  ASSERT_EQ(l.on_scored(q[1]), V::kAccepted);
  // The learner moved on while it waited: at version 3 the group from version 1 is too old.
  EXPECT_EQ(l.refuse_stale(3, 3), std::vector<uint64_t>{q[1]});
  EXPECT_EQ(l.state(q[1]), S::kQueued);
  EXPECT_EQ(l.counts(3).stale, 2);
  EXPECT_EQ(l.counts(3).scored, 0);
  // Sampled again with fresh weights, both complete.
  for (auto id : l.queued(10)) l.mark_rolling(id, "r");
  for (auto id : q) ASSERT_EQ(l.on_generated(id, 3, 3), V::kAccepted);
  for (auto id : l.generated(10)) l.mark_scoring(id, "w");
  for (auto id : q) ASSERT_EQ(l.on_scored(id), V::kAccepted);
  EXPECT_TRUE(l.refuse_stale(3, 3).empty());
  EXPECT_TRUE(l.step_complete(3));
  EXPECT_EQ(l.finish_step(3).scored, 2);
}
