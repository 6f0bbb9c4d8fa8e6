#include "model/moe.h"

#include "model/packed_ffn.h"
#include "model/rms_norm.h"

namespace grpo::model {

MoEImpl::MoEImpl(const ModelConfig& c) {
  gate = register_module("gate", TopkRouter(c));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < c.n_routed_experts; ++e) experts->push_back(MLP(c.hidden_size, c.moe_intermediate_size));
  if (c.n_shared_experts > 0)
    shared_experts =
        register_module("shared_experts", MLP(c.hidden_size, c.moe_intermediate_size * c.n_shared_experts));
}

torch::Tensor moe_routed_combine(torch::nn::ModuleList experts, const torch::Tensor& x, const torch::Tensor& indices,
                                 const torch::Tensor& weights) {
  auto expert = [&](int64_t e, const torch::Tensor& block) { return experts[e]->as<MLPImpl>()->forward(block); };
  return moe_routed_combine(expert, static_cast<int64_t>(experts->size()), x, indices, weights);
}

torch::Tensor moe_routed_combine(const ExpertFn& expert, int64_t n_experts, const torch::Tensor& x,
                                 const torch::Tensor& indices, const torch::Tensor& weights) {
  const int64_t n = x.size(0), k = indices.size(1);
  // Sort the N·K (token, slot) assignments by expert so each expert sees one contiguous block.
  auto flat_expert = indices.reshape({-1});  // [N·K]
  auto order =
      std::get<1>(flat_expert.sort(/*stable=*/std::optional<bool>(true), /*dim=*/0, /*descending=*/false));  // [N·K]
  auto token_of = torch::div(order, k, /*rounding_mode=*/"floor");  // [N·K] source token
  auto counts = torch::bincount(flat_expert, /*weights=*/{}, /*minlength=*/n_experts).to(torch::kCPU);
  auto x_sorted = x.index_select(0, token_of);                   // [N·K, hidden]
  auto w_sorted = weights.reshape({-1}).index_select(0, order);  // [N·K]

  std::vector<torch::Tensor> outputs;
  const int64_t* count = counts.data_ptr<int64_t>();
  int64_t start = 0;
  for (int64_t e = 0; e < n_experts; ++e) {
    if (count[e] == 0) continue;                       // inactive experts cost nothing
    auto block = x_sorted.narrow(0, start, count[e]);  // [n_e, hidden]
    outputs.push_back(expert(e, block));
    start += count[e];
  }
  if (outputs.empty()) return torch::zeros_like(x);
  auto y = torch::cat(outputs, 0);  // [N·K, hidden], expert-sorted
  // Weight in FP32 and accumulate in FP32 before casting back (as transformers does).
  const auto acc = compute_dtype(x);
  auto weighted = y.to(acc) * w_sorted.to(acc).unsqueeze(-1);
  auto out = torch::zeros({n, x.size(1)}, x.options().dtype(acc)).index_add(0, token_of, weighted);
  return out.to(x.scalar_type());
}

torch::Tensor MoEImpl::forward(const torch::Tensor& x, RouterOutput* routing, const PackedFFN* layout) {
  auto flat = x.reshape({-1, x.size(-1)});  // [N, hidden]
  RouterOutput r = gate(flat);
  // Packed (decoding) or the modules' own weights: the same experts, only the GEMM operands differ.
  const ExpertFn expert =
      layout ? ExpertFn([&](int64_t e, const torch::Tensor& b) {
        return layout->experts[static_cast<size_t>(e)].forward(b);
      })
             : ExpertFn([&](int64_t e, const torch::Tensor& b) { return experts[e]->as<MLPImpl>()->forward(b); });
  auto out = moe_routed_combine(expert, static_cast<int64_t>(experts->size()), flat, r.indices, r.weights);
  out = out.view(x.sizes());
  if (shared_experts) out = out + (layout ? layout->shared->forward(x) : shared_experts(x));
  if (routing) *routing = std::move(r);
  return out;
}

}  // namespace grpo::model
