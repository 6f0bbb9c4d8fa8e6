#include "model/logprobs.h"

#include "model/rms_norm.h"

namespace grpo::model {

torch::Tensor next_token_logprobs(const torch::Tensor& logits, const torch::Tensor& tokens) {
  const int64_t s = tokens.size(1);
  if (s < 2) return torch::zeros({tokens.size(0), 0}, logits.options().dtype(compute_dtype(logits)));
  auto lp = torch::log_softmax(logits.narrow(1, 0, s - 1).to(compute_dtype(logits)), /*dim=*/-1);  // [B, S-1, V]
  return lp.gather(-1, tokens.narrow(1, 1, s - 1).unsqueeze(-1)).squeeze(-1);                      // [B, S-1]
}

}  // namespace grpo::model
