// collect_step (actor/step_collector.h) against a fake runtime: the step's groups are logged to
// the write-ahead log before it trains on them, refill rounds draw exactly the missing groups
// with signal, the runtime's counts add up over rounds while its gauges stay the first batch's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "actor/step_collector.h"
#include "learner/checkpoint_dir.h"  // remove_tree: std::filesystem::remove_all crashes with LibTorch linked

namespace grpo::actor {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("grpo_collect_" + name + "_" + std::to_string(::getpid()));
  grpo::learner::remove_tree(fs::path(dir).string());
  return dir.string();
}

// A fake runtime: each submitted prompt comes back as a group of `G` completions whose rewards
// are all equal (no signal) when the dataset row is even and 0/1 (signal) when it is odd.
struct FakeRuntime {
  size_t next_row = 0;
  std::map<long, std::vector<SlotPrompt>> submitted;
  std::vector<std::pair<long, size_t>> draws;  // (round, count) of every draw

  std::vector<SlotPrompt> draw(long step, size_t count, long round) {
    draws.push_back({round, count});
    std::vector<SlotPrompt> out;
    for (size_t i = 0; i < count; ++i) {
      SlotPrompt p;
      p.index = next_row++;
      p.tokens = {1, static_cast<int32_t>(p.index) + 2};
      p.row = {{"sampling_seed", step * 100 + round * 10 + static_cast<long>(i)}};
      out.push_back(std::move(p));
    }
    return out;
  }
  StepRollouts wait(long batch_id) {
    StepRollouts r;
    for (const auto& p : submitted.at(batch_id)) {
      ScoredGroup g;
      g.group.prompt = Prompt{p.index, p.tokens, p.row};
      for (int c = 0; c < 2; ++c) {
        g.group.completions.push_back(Completion{"x", {5, 6, 7}, {-0.5f, -0.5f, -0.5f}, c ? "length" : "stop", 0, 0});
        const double reward = p.index % 2 ? static_cast<double>(c) : 1.0;
        g.scores.push_back(SampleScore{reward, {{"correct", reward}}, ""});
      }
      r.groups.push_back(std::move(g));
      r.prompt_indices.push_back(p.index);
    }
    r.counts = {{"prompts/total", static_cast<double>(r.groups.size())}, {"time/rollout_s", 0.5}};
    r.gauges = {{"weights/version", batch_id < 1000 ? 3.0 : 99.0}};
    return r;
  }
  StepSource source() {
    return {[this](long id, std::vector<SlotPrompt> p) { submitted[id] = std::move(p); },
            [this](long id) { return wait(id); },
            [this](long step, size_t count, long round) { return draw(step, count, round); }};
  }
};

TEST(StepCollector, GroupsAreLoggedInOrderWithTheStepAndTheDatasetRow) {
  FakeRuntime rt;
  const std::string dir = fresh_dir("log");
  TrajectoryLog log(dir);
  rt.submitted[5] = rt.draw(5, 3, 0);
  CollectOptions options;
  options.step_prompts = 3;
  options.max_new_tokens = 3;
  const CollectedStep step = collect_step(5, rt.source(), options, log);
  ASSERT_EQ(step.groups.size(), 3u);
  EXPECT_EQ(step.groups[1].prompt, (std::vector<int64_t>{1, 3}));
  EXPECT_TRUE(step.groups[0].completions[1].truncated);  // finish_reason "length"
  EXPECT_FALSE(step.groups[0].completions[0].truncated);
  ASSERT_EQ(log.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    const ScoredGroup logged = log.read(i);
    EXPECT_EQ(logged.group.batch_id, 5u);
    EXPECT_EQ(logged.group.prompt.prompt_id, i);  // the dataset row, not the runtime's slot
  }
  EXPECT_EQ(step.rollout_tokens, 3.0 * 2 * 3);
  EXPECT_EQ(step.metrics.at("reward/correct"), (1 + 1 + 0 + 1 + 1 + 1) / 6.0);
  EXPECT_EQ(step.metrics.at("reward/failures"), 0.0);
  EXPECT_EQ(step.metrics.count("refill/rounds"), 0u);  // refills off: no refill metrics
}

TEST(StepCollector, RefillDrawsTheMissingGroupsWithSignalUntilEnoughOrOutOfRounds) {
  FakeRuntime rt;
  const std::string dir = fresh_dir("refill");
  TrajectoryLog log(dir);
  rt.submitted[1] = rt.draw(1, 4, 0);  // rows 0..3: 2 with signal
  CollectOptions options;
  options.algorithm.drop_equal_groups = true;
  options.algorithm.refill_rounds = 3;
  options.step_prompts = 4;
  options.max_new_tokens = 3;
  const CollectedStep step = collect_step(1, rt.source(), options, log);
  // Round 1 draws the 2 missing (rows 4, 5: one with signal), round 2 the 1 still missing (row 6:
  // none), round 3 one more (row 7: signal) — 4 groups with signal after 3 rounds.
  EXPECT_EQ(rt.draws, (std::vector<std::pair<long, size_t>>{{0, 4}, {1, 2}, {2, 1}, {3, 1}}));
  EXPECT_EQ(step.groups.size(), 8u);
  EXPECT_EQ(log.size(), 8u);
  EXPECT_EQ(step.metrics.at("refill/rounds"), 3.0);
  EXPECT_EQ(step.metrics.at("refill/prompts"), 4.0);
  EXPECT_EQ(step.metrics.at("prompts/total"), 8.0);    // counts add up over the rounds
  EXPECT_EQ(step.metrics.at("time/rollout_s"), 2.0);   // 4 batches of 0.5 s
  EXPECT_EQ(step.metrics.at("weights/version"), 3.0);  // gauges: the step's own batch
  EXPECT_TRUE(rt.submitted.count(refill_batch_id(1, 1)) && rt.submitted.count(refill_batch_id(1, 3)));
}

TEST(StepCollector, RefillStopsAsSoonAsTheStepHasEnoughSignal) {
  FakeRuntime rt;
  rt.next_row = 1;  // rows 1, 2, 3: two with signal
  const std::string dir = fresh_dir("enough");
  TrajectoryLog log(dir);
  rt.submitted[2] = rt.draw(2, 3, 0);
  rt.next_row = 5;  // the first refill row carries signal
  CollectOptions options;
  options.algorithm.drop_equal_groups = true;
  options.algorithm.refill_rounds = 5;
  options.step_prompts = 3;
  options.max_new_tokens = 3;
  const CollectedStep step = collect_step(2, rt.source(), options, log);
  EXPECT_EQ(rt.draws.size(), 2u);  // the step's own draw and one refill round, not five
  EXPECT_EQ(step.metrics.at("refill/rounds"), 1.0);
  EXPECT_EQ(step.metrics.at("refill/prompts"), 1.0);
}

TEST(StepCollector, APromptWithoutCompletionsIsSkippedNotTrainedOrLogged) {
  FakeRuntime rt;
  const std::string dir = fresh_dir("empty");
  TrajectoryLog log(dir);
  rt.submitted[1] = rt.draw(1, 2, 0);
  StepSource source = rt.source();
  source.wait = [&rt](long id) {
    StepRollouts r = rt.wait(id);
    r.groups[0].group.completions.clear();
    r.groups[0].scores.clear();
    r.groups[0].group.prompt.row["generation_error"] = "prompt longer than the context";
    return r;
  };
  CollectOptions options;
  options.step_prompts = 2;
  const CollectedStep step = collect_step(1, source, options, log);
  EXPECT_EQ(step.groups.size(), 1u);
  EXPECT_EQ(log.size(), 1u);
}

}  // namespace
}  // namespace grpo::actor
