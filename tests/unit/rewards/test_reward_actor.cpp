#include <gtest/gtest.h>

#include <thread>

#include "rewards/reward_actor.h"

using namespace grpo;
using namespace std::chrono_literals;

namespace {

const char* kScript = R"(
function reward(s)
  if s.completion == "loop" then while true do end end
  if s.completion == "skip" then return nil end
  local ok = grpo.math_equal(grpo.boxed(s.completion) or "", s.answer)
  return { score = ok and 1 or 0, correct = ok and 1 or 0 }
end
)";

actor::TrajectoryGroup group(uint64_t id, std::vector<std::string> texts) {
  actor::TrajectoryGroup g;
  g.batch_id = 1;
  g.prompt = actor::Prompt{id, {1, 2}, {{"prompt", "2+2?"}, {"answer", "4"}}};
  for (auto& t : texts) g.completions.push_back(actor::Completion{t, {3}, {-0.5f}, "eos", 0, 0});
  return g;
}

rewards::ScorerOptions options() {
  rewards::ScorerOptions o;
  o.workers = 1;
  o.script.fallback = -1.0;
  o.script.limits.timeout_ms = 300;
  return o;
}

}  // namespace

TEST(RewardActor, ScoresGroupsWithFallbackNilAndScriptHash) {
  rewards::Scorer scorer(kScript, "inline.lua", options());
  auto scored = rewards::score_groups(scorer, {group(7, {"\\boxed{4}", "\\boxed{5}", "loop", "skip"})});
  ASSERT_EQ(scored.size(), 1u);
  const auto& s = scored[0].scores;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].reward, 1.0);
  EXPECT_EQ(s[0].metrics.at("correct"), 1.0);
  EXPECT_EQ(s[1].reward, 0.0);
  EXPECT_EQ(s[2].reward, -1.0);  // the fallback
  EXPECT_FALSE(s[2].failure.empty());
  EXPECT_FALSE(s[3].reward.has_value());  // nil: not applicable
  EXPECT_TRUE(s[3].failure.empty());
  EXPECT_EQ(scored[0].reward_script_sha256, scorer.script_sha256());
  EXPECT_EQ(scored[0].reward_script_sha256.size(), 64u);
  EXPECT_EQ(scored[0].group.prompt.prompt_id, 7u);
}

TEST(RewardActor, RunsOverChannelsUntilShutdown) {
  rewards::Scorer scorer(kScript, "inline.lua", options());
  actor::Receiver to_actor("inproc://reward-in", {.bind = true});
  actor::Sender from_actor("inproc://reward-out", {.bind = true});
  actor::Sender upstream("inproc://reward-in", {});
  actor::Receiver learner("inproc://reward-out", {});
  std::atomic<bool> stop{false};
  rewards::RewardActorStats stats;
  std::thread t([&] { stats = rewards::run_reward_actor(scorer, to_actor, from_actor, stop); });
  ASSERT_TRUE(upstream.send(group(1, {"\\boxed{4}", "x"}), 2s));
  ASSERT_TRUE(upstream.send(actor::Heartbeat{"rollout", 0, 1}, 2s));  // not for the reward actor
  ASSERT_TRUE(upstream.send(group(2, {"loop"}), 2s));
  ASSERT_TRUE(upstream.send(actor::Shutdown{"done"}, 2s));
  std::vector<actor::ScoredGroup> got;
  bool saw_shutdown = false;
  while (!saw_shutdown) {
    auto m = learner.receive(10s);
    ASSERT_TRUE(m.has_value()) << "the actor stopped answering";
    if (auto* s = std::get_if<actor::ScoredGroup>(&*m)) got.push_back(*s);
    saw_shutdown = std::holds_alternative<actor::Shutdown>(*m);
  }
  t.join();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].scores[0].reward, 1.0);
  EXPECT_EQ(got[1].scores[0].reward, -1.0);
  EXPECT_EQ(stats.groups, 2);
  EXPECT_EQ(stats.failures, 1);
  EXPECT_EQ(stats.dropped_messages, 1);
}
