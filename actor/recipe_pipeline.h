// `grpo run RECIPE`: a recipe end to end in one process, stage by stage, all in one run folder:
//
//   1. data       the task family's train / eval prompts and SFT traces   → data/*.jsonl
//   2. tokenizer  byte-level BPE trained on the SFT traces                 → sft/tokenizer.json
//   3. sft        the base policy, from scratch (model.config) by SFT      → sft/
//   4. eval base  held-out pass@1 / mean@K / pass@K of the base            → eval_base.json
//   5. train      GRPO from the base (actor/train_loop.h)                    → checkpoints/, metrics.jsonl
//   6. eval final the same evaluation of the last checkpoint              → eval_final.json
//   7. report     report.html with the curves and both evaluations
//
// Stages 1–3 run only when the recipe has a task family and no model.init; a finished SFT stage
// is reused when its inputs (task, tokenizer, sft sections and the model config) are unchanged.
#pragma once

#include <string>

#include "learner/recipe.h"

namespace grpo::actor {

struct PipelineOptions {
  bool quiet = false;      // no per-step lines (tests)
  bool skip_eval = false;  // stages 4 and 6 off
};

struct PipelineResult {
  std::string run_dir;
  double base_pass_at_1 = -1, final_pass_at_1 = -1;  // -1: not evaluated
  double seconds = 0;
};

PipelineResult run_recipe_pipeline(learner::Recipe recipe, const PipelineOptions& options);

}  // namespace grpo::actor
