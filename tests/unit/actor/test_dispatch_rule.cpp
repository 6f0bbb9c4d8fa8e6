// The learner driver's scheduling rule (actor/dispatch_rule.h).
#include <gtest/gtest.h>

#include "actor/dispatch_rule.h"

namespace grpo::actor {
namespace {

using namespace std::chrono_literals;
using Chunks = std::vector<std::pair<size_t, size_t>>;

TEST(DispatchRule, AStepIsSplitIntoContiguousNearlyEvenChunksOnePerWorker) {
  EXPECT_EQ(split_step(8, 1), (Chunks{{0, 8}}));  // one worker: one batch per step
  EXPECT_EQ(split_step(8, 2), (Chunks{{0, 4}, {4, 8}}));
  EXPECT_EQ(split_step(7, 3), (Chunks{{0, 2}, {2, 4}, {4, 7}}));
  EXPECT_EQ(split_step(2, 4), (Chunks{{0, 1}, {1, 2}}));  // more workers than prompts
  EXPECT_TRUE(split_step(0, 3).empty());
  for (size_t n = 1; n < 40; ++n)
    for (size_t w = 1; w < 9; ++w) {
      const Chunks c = split_step(n, w);
      ASSERT_EQ(c.front().first, 0u);
      ASSERT_EQ(c.back().second, n);
      for (size_t k = 0; k < c.size(); ++k) {
        ASSERT_LT(c[k].first, c[k].second) << n << " over " << w;
        if (k) ASSERT_EQ(c[k].first, c[k - 1].second);
        ASSERT_LE(c[k].second - c[k].first, (n + w - 1) / w + 1);
      }
    }
}

TEST(DispatchRule, RolloutsWaitForEveryWorkerUntilOneIsLostOrTheTimeoutPasses) {
  EXPECT_TRUE(wait_for_all_rollout_workers(1, 2, 0, 100ms, 2000ms));
  EXPECT_FALSE(wait_for_all_rollout_workers(2, 2, 0, 100ms, 2000ms));   // all here
  EXPECT_FALSE(wait_for_all_rollout_workers(1, 2, 1, 100ms, 2000ms));   // one was lost: go on
  EXPECT_FALSE(wait_for_all_rollout_workers(1, 2, 0, 2500ms, 2000ms));  // waited long enough
}

TEST(DispatchRule, AGroupGoesToTheLeastLoadedRewardWorkerOrWaits) {
  EXPECT_EQ(pick_reward_worker({3, 1, 1}, 8), 1u);  // the first of equals
  EXPECT_EQ(pick_reward_worker({0}, 8), 0u);
  EXPECT_FALSE(pick_reward_worker({8, 8}, 8).has_value());  // every worker full: back-pressure
  EXPECT_FALSE(pick_reward_worker({}, 8).has_value());      // none live
}

}  // namespace
}  // namespace grpo::actor
