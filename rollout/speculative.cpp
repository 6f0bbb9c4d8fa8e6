#include "rollout/speculative.h"

#include <algorithm>

#include "common/error.h"
#include "rollout/sampling.h"

namespace grpo::rollout {

DraftVerdict verify_draft(const float* p, const float* q, int64_t vocab, int64_t draft, double u_accept,
                          double u_residual) {
  GRPO_CHECK(draft >= 0 && draft < vocab, "verify_draft: draft outside the vocabulary");
  const double pd = p[draft], qd = q[draft];
  // qd > 0 because d was drawn from q; the guard keeps a degenerate caller from dividing by 0.
  if (qd > 0.0 && u_accept < pd / qd) return {true, draft};
  // Residual normalize(max(0, p − q)) by inverse CDF in FP64. p == q leaves no residual mass, but
  // then the draft is always accepted; fall back to p.
  double total = 0.0;
  for (int64_t i = 0; i < vocab; ++i) total += std::max(0.0, static_cast<double>(p[i]) - q[i]);
  const bool use_p = !(total > 0.0);
  auto mass = [&](int64_t i) {
    return use_p ? static_cast<double>(p[i]) : std::max(0.0, static_cast<double>(p[i]) - q[i]);
  };
  if (use_p)
    for (int64_t i = 0; i < vocab; ++i) total += p[i];
  const double target = u_residual * total;
  double cumulative = 0.0;
  int64_t last = -1;
  for (int64_t i = 0; i < vocab; ++i) {
    const double m = mass(i);
    if (m <= 0.0) continue;
    last = i;
    cumulative += m;
    if (target < cumulative) return {false, i};
  }
  GRPO_CHECK(last >= 0, "verify_draft: the target distribution is all zero");
  return {false, last};
}

DraftVerdict verify_draft(const torch::Tensor& p_in, const torch::Tensor& q_in, int64_t draft, double u_accept,
                          double u_residual) {
  torch::Tensor p = p_in.to(torch::kFloat32).contiguous(), q = q_in.to(torch::kFloat32).contiguous();
  GRPO_CHECK(p.dim() == 1 && p.sizes() == q.sizes(), "verify_draft: p, q [V]");
  return verify_draft(p.data_ptr<float>(), q.data_ptr<float>(), p.size(0), draft, u_accept, u_residual);
}

}  // namespace grpo::rollout
