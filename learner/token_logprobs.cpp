#include "learner/token_logprobs.h"

namespace grpo::learner {

torch::Tensor target_logprobs(model::CausalLM& lm, const MicroBatch& batch, double temperature) {
  return target_logprobs(lm->forward(batch.input, batch.attention), batch, temperature);
}

torch::Tensor target_logprobs(const model::LMOutput& out, const MicroBatch& batch, double temperature) {
  const int64_t s = batch.input.size(1);
  torch::Tensor logits = out.logits.slice(1, 0, s - 1).to(torch::kFloat32);  // [B, S-1, V]
  if (temperature > 0.0 && temperature != 1.0) logits = logits / temperature;
  torch::Tensor logp = torch::log_softmax(logits, /*dim=*/-1);
  return logp.gather(2, batch.targets.unsqueeze(2)).squeeze(2);  // [B, S-1]
}

}  // namespace grpo::learner
