// Log-probabilities of each target token of a micro-batch under the model — the learner's side
// of the behaviour log-prob definition in rollout/sampling.h: log softmax(logits / T)[target].
#pragma once

#include <torch/torch.h>

#include "learner/micro_batches.h"
#include "model/causal_lm.h"

namespace grpo::learner {

// [B, S-1] FP32 log-probs of batch.targets, with gradient when grad mode is on. Positions after
// the end of a row are garbage and must be masked by batch.loss_mask.
torch::Tensor target_logprobs(model::CausalLM& lm, const MicroBatch& batch, double temperature = 1.0);

// The same from a forward output already computed (the GRPO step also reads its routing for the
// MoE bias update and its hidden states for the MTP loss).
torch::Tensor target_logprobs(const model::LMOutput& out, const MicroBatch& batch, double temperature = 1.0);

// The same log-probs together with the entropy H = −Σ_v p_v log p_v of the model's distribution
// at each target position (softmax(logits / T), T the rollout temperature), [B, S-1] FP32 without
// gradient. Both come from one log-softmax of the forward already done: the GRPO step's entropy
// metric costs an exp and a sum over the vocabulary, not another forward.
struct TargetScores {
  torch::Tensor logp;     // as target_logprobs
  torch::Tensor entropy;  // detached
};
TargetScores target_logprobs_and_entropy(const model::LMOutput& out, const MicroBatch& batch, double temperature = 1.0);

}  // namespace grpo::learner
