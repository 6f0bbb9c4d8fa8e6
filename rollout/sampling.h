// Token sampling for rollouts: temperature, top-k, top-p, min-p, repetition penalty, and
// per-request seeds that make a sequence's tokens independent of how requests are batched.
//
// THE BEHAVIOUR LOG-PROB (one definition, used by rollout and learner alike):
//   logprob(token) = log softmax(logits / T)[token]
// i.e. temperature applied, BEFORE top-k / top-p / min-p truncation and without the repetition
// penalty. The learner recomputes exactly this from its own logits (behaviour_logprobs below),
// so the importance ratio compares like with like; truncation only changes which tokens can be
// drawn, not the density the ratio uses (as verl and TRL do). For greedy decoding (T = 0) the
// log-prob is taken at T = 1.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::rollout {

struct SamplingParams {
  double temperature = 1.0;         // 0 = greedy
  double top_p = 1.0;               // keep the smallest set of tokens with mass >= top_p; (0, 1]
  long top_k = 0;                   // keep the k most likely tokens; 0 = off
  double min_p = 0.0;               // drop tokens with p < min_p · p_max; [0, 1)
  double repetition_penalty = 1.0;  // > 0; 1 = off (CTRL-style: divide positive logits, multiply negative)
  uint64_t seed = 0;

  bool greedy() const { return temperature == 0.0; }
  // Throws grpo::Error naming the field and its allowed range (`where` prefixes the message).
  void validate(const std::string& where) const;
};

// log softmax(logits / T) at `tokens` — the behaviour log-prob defined above.
// logits [N, V] (any float dtype; computed in FP32), tokens [N] int64 → [N] FP32.
torch::Tensor behaviour_logprobs(const torch::Tensor& logits, const torch::Tensor& tokens, double temperature);

// The distribution a token is actually drawn from for one row: temperature, repetition penalty
// over `history`, then top-k, min-p and top-p truncation, renormalised. logits [V] → probs [V]
// FP32. Greedy gives a one-hot at the arg-max. Speculative decoding's acceptance test uses it.
torch::Tensor sampling_probs(const torch::Tensor& logits, const SamplingParams& params,
                             const std::vector<int64_t>& history = {});

// A uniform number in [0, 1) that depends only on (seed, stream, step): stream identifies the
// sequence (e.g. its index within the group), step the position. Counter-based, so the same
// request gives the same tokens in any batch.
double uniform_for(uint64_t seed, uint64_t stream, uint64_t step);

// Draws from `probs` [V] by inverse CDF with uniform u.
int64_t draw(const torch::Tensor& probs, double u);

struct SampledToken {
  int64_t token = 0;
  float logprob = 0.0f;  // the behaviour log-prob (definition above)
};

// Samples one token per row of logits [N, V]. params/streams/steps/histories have N entries
// (histories may be empty: no repetition penalty context).
std::vector<SampledToken> sample_tokens(const torch::Tensor& logits, const std::vector<SamplingParams>& params,
                                        const std::vector<uint64_t>& streams, const std::vector<uint64_t>& steps,
                                        const std::vector<std::vector<int64_t>>& histories = {});

}  // namespace grpo::rollout
