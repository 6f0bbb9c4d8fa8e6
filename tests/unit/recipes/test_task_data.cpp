#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/error.h"
#include "recipes/common/task_data.h"

using namespace grpo::recipes;

namespace {
TaskSpec spec(const std::string& family) {
  TaskSpec s;
  s.family = family;
  s.seed = 3;
  s.train_prompts = 300;
  s.eval_prompts = 100;
  s.sft_examples = 1000;
  s.shortcut_fraction = 0.5;
  s.flawed_fraction = 0.2;
  return s;
}
}  // namespace

TEST(TaskData, EvalPromptsAreDisjointFromTrainAndSft) {
  for (const char* family : {"math", "code"}) {
    const TaskData d = make_task_data(spec(family));
    ASSERT_EQ(d.train.size(), 300u);
    ASSERT_EQ(d.eval.size(), 100u);
    ASSERT_EQ(d.sft.size(), 1000u);
    std::set<std::string> train;
    for (const auto& r : d.train) train.insert(r["prompt"].get<std::string>());
    for (const auto& e : d.sft) train.insert(e.prompt);
    int shared = 0;
    for (const auto& r : d.eval) shared += train.count(r["prompt"].get<std::string>());
    // Eval rows that repeat a train or SFT prompt are skipped when the set is drawn.
    EXPECT_EQ(shared, 0) << family;
  }
}

TEST(TaskData, HeldOutCodeSetCoversEveryLevelAtRecipeScale) {
  // The code recipe's sizes: 2,000 train prompts and 3,000 SFT traces drawn before the 200 eval
  // prompts. A level with a small prompt space runs out of unseen prompts and vanishes from the
  // held-out set (it once did: level 4 was absent), so every level must keep a fair share.
  TaskSpec s = spec("code");
  s.seed = 1;
  s.train_prompts = 2000;
  s.sft_examples = 3000;
  s.eval_prompts = 200;
  const TaskData d = make_task_data(s);
  std::map<int, int> per_level;
  for (const auto& r : d.eval) ++per_level[r["difficulty"].get<int>()];
  for (int level = 1; level <= 4; ++level)
    EXPECT_GE(per_level[level], 30) << "level " << level << " has " << per_level[level] << " of 200 held-out prompts";
}

TEST(TaskData, TraceKindsFollowTheFractions) {
  const TaskData d = make_task_data(spec("math"));
  int shortcut = 0, flawed = 0;
  for (const auto& e : d.sft) {
    shortcut += e.kind == "shortcut";
    flawed += e.kind == "flawed";
    if (e.kind == "shortcut") EXPECT_NE(e.completion.find("I can see it at once"), std::string::npos);
  }
  // Binomial(1000, 0.5) and (1000, 0.2): ±5 standard deviations.
  EXPECT_NEAR(shortcut, 500, 80);
  EXPECT_NEAR(flawed, 200, 65);
}

TEST(TaskData, SameSpecSameData) {
  const TaskData a = make_task_data(spec("code")), b = make_task_data(spec("code"));
  for (size_t i = 0; i < a.sft.size(); ++i) ASSERT_EQ(a.sft[i].completion, b.sft[i].completion);
  EXPECT_EQ(a.eval, b.eval);
}

TEST(TaskData, BadSpecsNameTheKey) {
  TaskSpec s = spec("poetry");
  try {
    make_task_data(s);
    FAIL();
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("task.family"), std::string::npos);
  }
  s = spec("math");
  s.shortcut_fraction = 0.7;
  s.flawed_fraction = 0.5;
  EXPECT_THROW(make_task_data(s), grpo::Error);
}
