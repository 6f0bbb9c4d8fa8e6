// The acceptance rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023), used
// with drafts from the MTP head (spec §5.4). A draft token d drawn from the draft distribution q
// is kept with probability min(1, p(d)/q(d)); otherwise the token is drawn from
// normalize(max(0, p − q)). The result is distributed exactly as p, the main model's sampling
// distribution, whatever q is; with greedy p and q (one-hots) it returns argmax p.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace grpo::rollout {

struct DraftVerdict {
  bool accepted = false;
  int64_t token = 0;  // the draft when accepted, else the draw from the residual
};

// p, q: [V] probabilities (rollout::sampling_probs of the main and the draft logits under the same
// sampling settings); draft was drawn from q. u_accept, u_residual: independent uniforms in [0, 1).
DraftVerdict verify_draft(const torch::Tensor& p, const torch::Tensor& q, int64_t draft, double u_accept,
                          double u_residual);

// The same rule on raw rows of V probabilities (the engine's batched path; the tensor form calls it).
DraftVerdict verify_draft(const float* p, const float* q, int64_t vocab, int64_t draft, double u_accept,
                          double u_residual);

}  // namespace grpo::rollout
