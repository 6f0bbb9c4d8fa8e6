#include "rollout/decode_ffn.h"

#include "model/fp8_linear.h"
#include "model/fp8_training.h"
#include "model/mtp.h"
#include "model/rms_norm.h"

namespace grpo::rollout {
namespace {

PackedMLP pack(model::MLPImpl& m) {
  PackedMLP p;
  p.inter = m.gate_proj->weight.size(0);
  p.gate_up_t = torch::cat({m.gate_proj->weight, m.up_proj->weight}, 0).t().contiguous().detach();
  p.down_t = m.down_proj->weight.t().contiguous().detach();
  return p;
}

bool packable(model::MLPImpl& m) {
  for (auto* l : {&m.gate_proj, &m.up_proj, &m.down_proj})
    if (model::is_fp8(**l) || model::fp8_training_enabled(**l)) return false;
  return true;
}

PackedFFN pack_layer(model::DecoderLayerImpl& layer, bool& ok) {
  PackedFFN f;
  if (layer.mlp_dense) {
    ok = ok && packable(*layer.mlp_dense);
    f.dense = pack(*layer.mlp_dense);
    return f;
  }
  auto& moe = *layer.mlp_moe;
  for (size_t e = 0; e < moe.experts->size(); ++e) {
    auto& m = *moe.experts[e]->as<model::MLPImpl>();
    ok = ok && packable(m);
    f.experts.push_back(pack(m));
  }
  if (moe.shared_experts) {
    ok = ok && packable(*moe.shared_experts);
    f.shared = pack(*moe.shared_experts);
  }
  return f;
}

}  // namespace

torch::Tensor PackedMLP::forward(const torch::Tensor& x) const {
  auto gu = x.matmul(gate_up_t);  // [..., 2·inter]
  return (torch::silu(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter)).matmul(down_t);
}

std::vector<PackedFFN> pack_ffns(model::CausalLM& lm) {
  torch::NoGradGuard no_grad;
  bool ok = true;
  std::vector<PackedFFN> out;
  for (size_t l = 0; l < lm->model->layers->size(); ++l)
    out.push_back(pack_layer(*lm->model->layers[l]->as<model::DecoderLayerImpl>(), ok));
  for (size_t k = 0; k < lm->mtp->size(); ++k) out.push_back(pack_layer(*lm->mtp[k]->as<model::MTPLayerImpl>(), ok));
  if (!ok) out.clear();
  return out;
}

torch::Tensor packed_ffn_forward(model::DecoderLayerImpl& layer, const PackedFFN& packed, const torch::Tensor& x) {
  if (packed.dense) return packed.dense->forward(x);
  // As MoEImpl::forward + moe_routed_combine, with the packed experts.
  auto flat = x.reshape({-1, x.size(-1)});  // [N, hidden]
  auto r = layer.mlp_moe->gate(flat);
  const int64_t n = flat.size(0), k = r.indices.size(1), n_experts = static_cast<int64_t>(packed.experts.size());
  auto flat_expert = r.indices.reshape({-1});
  auto order = std::get<1>(flat_expert.sort(/*stable=*/std::optional<bool>(true), 0, false));
  auto token_of = torch::div(order, k, "floor");
  auto counts = torch::bincount(flat_expert, {}, n_experts);
  auto x_sorted = flat.index_select(0, token_of);
  auto w_sorted = r.weights.reshape({-1}).index_select(0, order);
  std::vector<torch::Tensor> outputs;
  const int64_t* count = counts.data_ptr<int64_t>();
  int64_t start = 0;
  for (int64_t e = 0; e < n_experts; ++e) {
    if (count[e] == 0) continue;
    outputs.push_back(packed.experts[static_cast<size_t>(e)].forward(x_sorted.narrow(0, start, count[e])));
    start += count[e];
  }
  const auto acc = model::compute_dtype(flat);
  auto y = torch::cat(outputs, 0).to(acc) * w_sorted.to(acc).unsqueeze(-1);
  auto out =
      torch::zeros({n, flat.size(1)}, flat.options().dtype(acc)).index_add(0, token_of, y).to(flat.scalar_type());
  out = out.view(x.sizes());
  if (packed.shared) out = out + packed.shared->forward(x);
  return out;
}

}  // namespace grpo::rollout
