// One SFT run from start to finish — model, data, training with metrics and progress, checkpoint
// folder — shared by `grpo sft --data ...`, `grpo sft RECIPE` and the recipe pipeline
// (`grpo run`), which fills SftRun from its recipe and its generated traces.
#pragma once

#include <string>

#include "learner/recipe.h"
#include "learner/sft.h"

namespace grpo::learner {

struct SftRun {
  std::string data;        // prompt/completion JSONL (learner/sft_data.h)
  std::string out;         // checkpoint folder to write (config.json, model.safetensors, tokenizer.json, metrics.jsonl)
  std::string init;        // checkpoint folder to start from; empty: `config` with random weights
  std::string config;      // config.json of a model built from scratch (seeded by options.seed)
  std::string tokenizer;   // tokenizer.json for text rows; empty: init's tokenizer.json when it has one
  SftOptions options;      // pad_id is taken from the model's config
  long epochs = 0;         // > 0: options.steps = ceil(epochs × rows / batch), set once the data is read
  bool quiet = false;      // no progress output
  bool append_eos = true;  // end every completion with the model's first EOS id (learner/sft_data.h)
  std::string metric_prefix = "sft/";  // of the metrics.jsonl keys: sft/loss, sft/grad_norm, ...
};

// The recipe's SFT stage: model.init / model.config, sft.* (data, out, steps, batch, lr,
// warmup_steps, micro_batch_tokens), optim.schedule's cosine floor, optim.grad_clip, model.precision
// ("bf16": BF16 matmuls; "fp8" trains in FP32 here), train.seed. sft.out empty:
// <train.run_dir or runs/<name>>/sft. Callers may change any field before running it.
SftRun sft_run_from_recipe(const Recipe& recipe);

// Runs it; returns the last step's statistics. Throws grpo::Error naming the file for bad input.
SftStepStats run_sft_to_folder(const SftRun& run);

}  // namespace grpo::learner
