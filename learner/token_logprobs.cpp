#include "learner/token_logprobs.h"

namespace grpo::learner {

torch::Tensor target_logprobs(model::CausalLM& lm, const MicroBatch& batch, double temperature) {
  return target_logprobs(lm->forward(batch.input, batch.attention), batch, temperature);
}

namespace {

// log softmax(logits / T) over the vocabulary at every target position, [B, S-1, V] FP32.
torch::Tensor vocab_logprobs(const model::LMOutput& out, const MicroBatch& batch, double temperature) {
  const int64_t s = batch.input.size(1);
  torch::Tensor logits = out.logits.slice(1, 0, s - 1).to(torch::kFloat32);  // [B, S-1, V]
  if (temperature > 0.0 && temperature != 1.0) logits = logits / temperature;
  return torch::log_softmax(logits, /*dim=*/-1);
}

}  // namespace

torch::Tensor target_logprobs(const model::LMOutput& out, const MicroBatch& batch, double temperature) {
  return vocab_logprobs(out, batch, temperature).gather(2, batch.targets.unsqueeze(2)).squeeze(2);  // [B, S-1]
}

TargetScores target_logprobs_and_entropy(const model::LMOutput& out, const MicroBatch& batch, double temperature) {
  torch::Tensor logp = vocab_logprobs(out, batch, temperature);
  TargetScores scores;
  scores.logp = logp.gather(2, batch.targets.unsqueeze(2)).squeeze(2);
  torch::NoGradGuard no_grad;
  // In chunks of positions, so the temporaries stay small next to the log-softmax itself (a full
  // [B, S-1, V] p·log p would double the step's largest tensor at a 129k vocabulary).
  const torch::Tensor lp = logp.detach().reshape({-1, logp.size(-1)});
  std::vector<torch::Tensor> parts{torch::zeros({0}, lp.options())};
  for (const auto& chunk : lp.split(512)) {
    // p·log p is 0·(−inf) = NaN where p underflows to 0; such terms contribute 0 to the entropy.
    parts.push_back(-torch::nan_to_num(chunk.exp() * chunk, 0.0).sum(-1));
  }
  scores.entropy = torch::cat(parts).view({logp.size(0), logp.size(1)});
  return scores;
}

}  // namespace grpo::learner
