#include <gtest/gtest.h>

#include "common/error.h"
#include "learner/recipe.h"
#include "learner/sft_run.h"

using namespace grpo::learner;

TEST(SftRun, RecipeSectionFillsTheRun) {
  nlohmann::json raw = {{"name", "toy"},
                        {"model", {{"config", "cfg.json"}}},
                        {"data", {{"train", "p.jsonl"}}},
                        {"reward", {{"script", "r.lua"}}},
                        {"sft",
                         {{"data", "sft.jsonl"},
                          {"steps", 7},
                          {"batch", 3},
                          {"lr", 0.002},
                          {"warmup_steps", 2},
                          {"micro_batch_tokens", 512}}},
                        {"optim", {{"min_lr_ratio", 0.25}, {"grad_clip", 0.5}}},
                        {"train", {{"seed", 11}, {"run_dir", "runs/x"}}}};
  auto run = sft_run_from_recipe(resolve_recipe(raw, "/r/recipe.json"));
  EXPECT_EQ(run.data, "/r/sft.jsonl");  // paths relative to the recipe's folder
  EXPECT_EQ(run.config, "/r/cfg.json");
  EXPECT_EQ(run.init, "");
  EXPECT_EQ(run.out, "/r/runs/x/sft");  // sft.out empty: <run folder>/sft
  EXPECT_EQ(run.options.steps, 7);
  EXPECT_EQ(run.options.batch_sequences, 3u);
  EXPECT_EQ(run.options.micro_batch_tokens, 512u);
  EXPECT_DOUBLE_EQ(run.options.lr.peak_lr, 0.002);
  EXPECT_EQ(run.options.lr.warmup_steps, 2);
  EXPECT_EQ(run.options.lr.kind, "cosine");
  EXPECT_DOUBLE_EQ(run.options.lr.min_lr_ratio, 0.25);
  EXPECT_DOUBLE_EQ(run.options.grad_clip, 0.5);
  EXPECT_EQ(run.options.seed, 11u);

  EXPECT_EQ(run.options.precision, Precision::kFp32);
  EXPECT_TRUE(run.append_eos);  // a model SFT'ed from a file learns to stop

  raw["sft"]["out"] = "base";
  raw["model"]["precision"] = "bf16";
  auto bf16 = sft_run_from_recipe(resolve_recipe(raw, "/r/recipe.json"));
  EXPECT_EQ(bf16.out, "/r/base");
  EXPECT_EQ(bf16.options.precision, Precision::kBf16);  // model.precision reaches `grpo sft RECIPE`
}

TEST(SftRun, MissingDataIsNamed) {
  SftRun run;
  run.out = "/tmp/never";
  try {
    run_sft_to_folder(run);
    FAIL() << "ran without data";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sft.data"), std::string::npos) << e.what();
  }
}
