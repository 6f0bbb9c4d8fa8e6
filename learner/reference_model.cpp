#include "learner/reference_model.h"

#include "common/error.h"

namespace grpo::learner {

void copy_weights(model::CausalLM& from, model::CausalLM& to) {
  torch::NoGradGuard no_grad;
  auto src = from->named_parameters();
  auto dst = to->named_parameters();
  GRPO_CHECK(src.size() == dst.size(), "copy_weights: the models have different parameters");
  for (auto& p : dst) p.value().copy_(src[p.key()]);
  auto bsrc = from->named_buffers();
  for (auto& b : to->named_buffers()) b.value().copy_(bsrc[b.key()]);
}

model::CausalLM clone_model(model::CausalLM& source) {
  model::CausalLM copy(source->config);
  copy_weights(source, copy);
  for (auto& p : copy->parameters()) p.set_requires_grad(false);  // frozen: no gradient, no optimizer
  copy->eval();
  return copy;
}

}  // namespace grpo::learner
