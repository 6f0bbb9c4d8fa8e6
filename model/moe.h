// DeepSeekMoE layer (spec §4.1): routed experts chosen by the gate plus always-on shared
// experts. Tokens are grouped by expert (sort, one GEMM per active expert, scatter back).
#pragma once

#include <torch/torch.h>

#include <functional>

#include "model/config.h"
#include "model/mlp.h"
#include "model/moe_router.h"

namespace grpo::model {

struct PackedFFN;

class MoEImpl : public torch::nn::Module {
 public:
  explicit MoEImpl(const ModelConfig& config);
  // x: [B, S, hidden] -> [B, S, hidden]; `routing` (if given) receives the gate's decisions
  // for the B·S tokens in row-major order. `layout` (decoding, model/packed_ffn.h) runs the
  // experts' GEMMs on pre-packed weights; routing, dispatch and combine are this same code.
  torch::Tensor forward(const torch::Tensor& x, RouterOutput* routing = nullptr, const PackedFFN* layout = nullptr);

  TopkRouter gate{nullptr};
  torch::nn::ModuleList experts{nullptr};  // n_routed_experts × MLP(hidden, moe_intermediate_size)
  MLP shared_experts{nullptr};             // MLP(hidden, n_shared·moe_intermediate_size); null when n_shared = 0
};
TORCH_MODULE(MoE);

// Routed-expert combine on its own: Σ_k w_k · expert_{idx_k}(x), grouped by expert.
// x: [N, hidden], indices/weights: [N, K] -> [N, hidden]. Exposed for tests and benchmarks.
torch::Tensor moe_routed_combine(torch::nn::ModuleList experts, const torch::Tensor& x, const torch::Tensor& indices,
                                 const torch::Tensor& weights);
// The same with expert e's FFN given as a function of (e, its block of tokens [n_e, hidden]).
using ExpertFn = std::function<torch::Tensor(int64_t expert, const torch::Tensor& x)>;
torch::Tensor moe_routed_combine(const ExpertFn& expert, int64_t n_experts, const torch::Tensor& x,
                                 const torch::Tensor& indices, const torch::Tensor& weights);

}  // namespace grpo::model
