// Supervised fine-tuning on prompt/completion pairs with the loss on completion tokens only:
// the recipes use it to make a base policy (from scratch or from a checkpoint) before RL.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "learner/lr_schedule.h"
#include "learner/micro_batches.h"
#include "learner/precision.h"
#include "model/causal_lm.h"

namespace grpo::learner {

struct SftOptions {
  long steps = 100;                  // optimizer steps
  size_t batch_sequences = 16;       // sequences per optimizer step
  size_t micro_batch_tokens = 4096;  // padded tokens per forward/backward
  LrSchedule lr;                     // peak, warm-up, schedule (total_steps is set to `steps`)
  double weight_decay = 0.0;
  double grad_clip = 1.0;  // global norm; 0 = off
  uint64_t seed = 1;       // data order
  int64_t pad_id = 0;
  Precision precision = Precision::kFp32;  // forward compute (learner/precision.h); weights stay FP32
};

struct SftStepStats {
  long step = 0;
  double loss = 0;       // mean negative log-likelihood per completion token
  double grad_norm = 0;  // before clipping
  double lr = 0;
  double tokens = 0;     // completion tokens in the step
  bool skipped = false;  // non-finite loss or gradient: the weights were not touched
};

// Mean NLL per counted token of one micro-batch's targets, summed with weight 1/`denominator`
// (the step's total counted tokens), so accumulating micro-batches gives the step's mean.
torch::Tensor sft_loss(model::CausalLM& lm, const MicroBatch& batch, double denominator);

// Trains `lm` in place; `on_step` (may be empty) sees each step's statistics.
void run_sft(model::CausalLM& lm, const std::vector<TrainSequence>& data, const SftOptions& options,
             const std::function<void(const SftStepStats&)>& on_step);

}  // namespace grpo::learner
