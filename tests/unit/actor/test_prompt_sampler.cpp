// The data order of a run (actor/prompt_sampler.h): deterministic per seed, every row once per
// epoch, and a sampler restored from a step's recorded position draws exactly what the
// uninterrupted one drew — the property resume bit-exactness rests on.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "actor/prompt_sampler.h"
#include "common/error.h"

namespace grpo::actor {
namespace {

std::vector<size_t> indices(const std::vector<SampledPrompt>& drawn) {
  std::vector<size_t> out;
  for (const auto& d : drawn) out.push_back(d.index);
  return out;
}

TEST(PromptSampler, SameSeedSameOrderOtherSeedOtherOrder) {
  PromptSampler a(50, 7, true), b(50, 7, true), c(50, 8, true);
  const auto da = indices(a.draw(1, 20)), db = indices(b.draw(1, 20)), dc = indices(c.draw(1, 20));
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(PromptSampler, EveryRowOncePerEpochThenAFreshShuffle) {
  PromptSampler s(10, 3, true);
  const auto first = indices(s.draw(1, 10));
  EXPECT_EQ(std::set<size_t>(first.begin(), first.end()).size(), 10u);
  const auto second = indices(s.draw(2, 10));
  EXPECT_EQ(std::set<size_t>(second.begin(), second.end()).size(), 10u);
  EXPECT_NE(first, second);  // reshuffled (10! orders: equal by chance is negligible)
}

TEST(PromptSampler, WithoutShuffleRowsComeInDatasetOrderAcrossEpochs) {
  PromptSampler s(3, 1, false);
  EXPECT_EQ(indices(s.draw(1, 4)), (std::vector<size_t>{0, 1, 2, 0}));
  EXPECT_EQ(indices(s.draw(2, 3)), (std::vector<size_t>{1, 2, 0}));
}

TEST(PromptSampler, RestoredFromAStepDrawsWhatTheUninterruptedRunDrew) {
  for (const size_t per_step : {3u, 7u}) {  // 7 does not divide 20: epochs wrap mid-step
    PromptSampler whole(20, 11, true);
    std::vector<std::vector<size_t>> expected;
    DataPosition at_step_3;
    for (long step = 1; step <= 8; ++step) {
      expected.push_back(indices(whole.draw(step, per_step)));
      if (step == 3) at_step_3 = whole.position_after(3);
    }
    PromptSampler resumed(20, 11, true);
    resumed.restore(at_step_3, 3, "state.json");
    for (long step = 4; step <= 8; ++step)
      EXPECT_EQ(indices(resumed.draw(step, per_step)), expected[static_cast<size_t>(step - 1)]) << "step " << step;
  }
}

TEST(PromptSampler, PositionOfAStepIsTheOneAfterItsLastDraw) {
  // Asynchronous mode draws later steps before a step's checkpoint is written: the checkpoint of
  // step 1 must record the position after step 1's draws, not the newest.
  PromptSampler s(9, 5, true);
  s.draw(1, 3);
  const DataPosition after_1 = s.position_after(1);
  s.draw(2, 3);
  s.draw(1, 2, /*round=*/1);  // a refill of step 1 moves step 1's position
  EXPECT_NE(s.position_after(1).cursor, after_1.cursor);
  EXPECT_EQ(s.position_after(1).cursor, 8u);
  EXPECT_EQ(s.position_after(0).cursor, 0u);  // the starting position
  s.forget_before(2);
  EXPECT_THROW(s.position_after(1), Error);
  EXPECT_NO_THROW(s.position_after(2));
}

TEST(PromptSampler, SamplingSeedsRepeatAndRefillRoundsGetTheirOwn) {
  PromptSampler a(8, 2, true), b(8, 2, true);
  const auto own = a.draw(4, 3), own_again = b.draw(4, 3);
  for (size_t i = 0; i < own.size(); ++i) {
    EXPECT_EQ(own[i].sampling_seed, own_again[i].sampling_seed);
    EXPECT_EQ(own[i].sampling_seed, 2u * 1000003u + 4u * 7919u + i);  // the formula the runs were made with
  }
  std::set<uint64_t> seeds;
  for (long step = 1; step <= 20; ++step)
    for (long round = 0; round <= 3; ++round)
      for (const auto& d : a.draw(step, 4, round)) seeds.insert(d.sampling_seed);
  EXPECT_EQ(seeds.size(), 20u * 4u * 4u);  // no two prompts of any step or round share a seed
}

TEST(PromptSampler, APositionThatDoesNotFitTheDataIsAnErrorNamingTheFile) {
  PromptSampler s(5, 1, true);
  DataPosition p = s.position_after(0);
  p.order.pop_back();
  try {
    s.restore(p, 2, "run/checkpoints/step-2/trainer_state/state.json");
    FAIL() << "a 4-prompt order was accepted for 5 prompts";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("state.json: order: 4 prompts, but data.train has 5"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace grpo::actor
