// Per-token log-probabilities of each next token under the model (FP32), for `grpo logprobs`,
// perplexity checks, and the learner's log-prob recomputation.
#pragma once

#include <torch/torch.h>

namespace grpo::model {

// logits: [B, S, V]; tokens: [B, S]. Returns [B, S-1] with out[b, i] = log p(t_{i+1} | t_{≤i}), FP32
// (FP64 for FP64 logits).
torch::Tensor next_token_logprobs(const torch::Tensor& logits, const torch::Tensor& tokens);

}  // namespace grpo::model
