#include "rollout/paged_forward.h"

#include <algorithm>

#include "common/error.h"
#include "model/fp8_linear.h"
#include "model/mtp.h"

namespace grpo::rollout {
namespace {

torch::Tensor long_tensor(std::vector<int64_t>& v, std::vector<int64_t> shape) {
  return torch::from_blob(v.data(), shape, torch::kLong).clone();
}

}  // namespace

PagedBatch make_paged_batch(const model::PagedLatentCache& cache, const std::vector<PagedRow>& rows) {
  PagedBatch b;
  b.rows = static_cast<int64_t>(rows.size());
  for (const auto& r : rows) {
    b.s = std::max<int64_t>(b.s, static_cast<int64_t>(r.tokens.size()));
    b.t = std::max<int64_t>(b.t, r.length + static_cast<int64_t>(r.tokens.size()));
  }
  GRPO_CHECK(b.rows > 0 && b.s > 0, "paged batch: no rows or no tokens");
  std::vector<int64_t> tokens(b.rows * b.s, 0), positions(b.rows * b.s, 0), write(b.rows * b.s, 0),
      read(b.rows * b.t, 0);
  auto allowed = torch::zeros({b.rows, b.s, b.t}, torch::kBool);
  auto ok = allowed.accessor<bool, 3>();
  for (int64_t i = 0; i < b.rows; ++i) {
    const auto& r = rows[static_cast<size_t>(i)];
    const auto n = static_cast<int64_t>(r.tokens.size());
    const int64_t end = r.length + n;
    GRPO_CHECK(r.pages && cache.pages_for(end) <= static_cast<int64_t>(r.pages->size()),
               "paged batch: a row's pages do not cover its length");
    for (int64_t t = 0; t < end; ++t) read[i * b.t + t] = cache.slot_of(*r.pages, t);
    for (int64_t s = 0; s < b.s; ++s) {
      if (s < n) {
        tokens[i * b.s + s] = r.tokens[static_cast<size_t>(s)];
        positions[i * b.s + s] = r.length + s;
        write[i * b.s + s] = cache.slot_of(*r.pages, r.length + s);
        for (int64_t t = 0; t <= r.length + s; ++t) ok[i][s][t] = true;  // causal over the row's own slots
      } else {
        ok[i][s][0] = true;  // a padded query sees one slot (no empty softmax row); its output is unused
      }
    }
  }
  b.tokens = long_tensor(tokens, {b.rows, b.s});
  b.positions = long_tensor(positions, {b.rows, b.s});
  b.write_slots = long_tensor(write, {b.rows * b.s});
  b.read_slots = long_tensor(read, {b.rows * b.t});
  b.allowed = allowed;
  return b;
}

torch::Tensor PagedModel::layer(model::DecoderLayerImpl& layer, const torch::Tensor& h, const torch::Tensor& cos,
                                const torch::Tensor& sin, model::PagedLatentCache& cache, size_t cache_layer,
                                const PagedBatch& b) {
  const auto& c = lm_->config;
  const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, rank = c.kv_lora_rank;
  auto& attn = *layer.self_attn;
  auto x = layer.input_layernorm(h);
  auto [q_nope, q_pe] = attn.project_q(x, cos, sin);
  auto [c_kv, k_pe] = attn.project_kv_latent(x, cos, sin);
  auto& kv_pool = cache.kv[cache_layer];
  auto& pe_pool = cache.pe[cache_layer];
  kv_pool.index_copy_(0, b.write_slots, c_kv.reshape({-1, rank}).to(kv_pool.scalar_type()));
  pe_pool.index_copy_(0, b.write_slots, k_pe.reshape({-1, k_pe.size(-1)}).to(pe_pool.scalar_type()));
  auto kv = kv_pool.index_select(0, b.read_slots).view({b.rows, b.t, rank}).to(x.scalar_type());  // [B, T, rank]
  auto pe = pe_pool.index_select(0, b.read_slots).view({b.rows, b.t, -1}).to(x.scalar_type());    // [B, T, R]
  // From here exactly MLAImpl::forward_absorbed (FP8 kv_b_proj dequantized, as there).
  auto w = model::dense_weight(attn.kv_b_proj).to(x.scalar_type()).view({heads, nope + v, rank});
  auto w_uk = w.narrow(1, 0, nope);
  auto w_uv = w.narrow(1, nope, v);
  auto q_latent = torch::einsum("bshd,hdc->bshc", {q_nope, w_uk});
  auto scores = (torch::einsum("bshc,btc->bhst", {q_latent, kv}) + torch::einsum("bshr,btr->bhst", {q_pe, pe})) *
                c.softmax_scale();
  auto p = model::masked_softmax(scores, b.allowed);
  auto u = torch::einsum("bhst,btc->bshc", {p, kv});
  auto o = torch::einsum("bshc,hdc->bshd", {u, w_uv});
  auto h1 = h + model::linear_forward(attn.o_proj, o.flatten(-2));
  auto y = layer.post_attention_layernorm(h1);
  if (cache_layer < packed_.size()) return h1 + packed_ffn_forward(layer, packed_[cache_layer], y);
  return h1 + (layer.mlp_moe ? layer.mlp_moe->forward(y, nullptr) : layer.mlp_dense(y));
}

model::LMOutput PagedModel::forward(model::PagedLatentCache& cache, const PagedBatch& b) {
  auto h = lm_->model->embed_tokens(b.tokens);
  auto [cos, sin] = rope_.cos_sin(b.positions, h.scalar_type());
  for (size_t l = 0; l < lm_->model->layers->size(); ++l)
    h = layer(*lm_->model->layers[l]->as<model::DecoderLayerImpl>(), h, cos, sin, cache, l, b);
  model::LMOutput out;
  out.hidden = lm_->model->norm(h);
  out.logits = lm_->lm_head(out.hidden);
  return out;
}

torch::Tensor PagedModel::forward_mtp(model::PagedLatentCache& cache, const PagedBatch& b,
                                      const torch::Tensor& h_main) {
  GRPO_CHECK(lm_->mtp->size() > 0, "the model has no MTP module to draft with (num_nextn_predict_layers = 0)");
  const size_t cache_layer = lm_->model->layers->size();
  GRPO_CHECK(cache.kv.size() > cache_layer, "paged cache has no layer for the MTP module");
  auto m = lm_->mtp[0]->as<model::MTPLayerImpl>();
  auto emb = lm_->model->embed_tokens(b.tokens);
  auto [cos, sin] = rope_.cos_sin(b.positions, emb.scalar_type());
  // Embedding first (spec §5.1), as MTPLayerImpl::forward_mtp.
  auto h = m->eh_proj(torch::cat({m->enorm(emb), m->hnorm(h_main)}, /*dim=*/-1));
  h = layer(*m, h, cos, sin, cache, cache_layer, b);
  return lm_->lm_head(m->shared_head->norm(h));
}

}  // namespace grpo::rollout
