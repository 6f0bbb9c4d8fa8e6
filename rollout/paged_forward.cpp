#include "rollout/paged_forward.h"

#include <algorithm>

#include "common/error.h"
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

namespace {

// The paged cache as the forward's LatentStore: the new latents go to the batch's write slots
// (padding to the scratch slot 0), and each row reads back its T slots through its page list.
class PagedStore : public model::LatentStore {
 public:
  PagedStore(model::PagedLatentCache& cache, const PagedBatch& b) : cache_(cache), b_(b) {}
  std::pair<torch::Tensor, torch::Tensor> write_and_read(size_t layer, const torch::Tensor& c_kv,
                                                         const torch::Tensor& k_pe) override {
    GRPO_CHECK(layer < cache_.kv.size(), "paged cache has no layer " + std::to_string(layer));
    auto& kv_pool = cache_.kv[layer];  // [slots, kv_lora_rank]
    auto& pe_pool = cache_.pe[layer];  // [slots, R]
    kv_pool.index_copy_(0, b_.write_slots, c_kv.reshape({-1, c_kv.size(-1)}).to(kv_pool.scalar_type()));
    pe_pool.index_copy_(0, b_.write_slots, k_pe.reshape({-1, k_pe.size(-1)}).to(pe_pool.scalar_type()));
    auto kv = kv_pool.index_select(0, b_.read_slots).view({b_.rows, b_.t, -1});  // [B, T, kv_lora_rank]
    auto pe = pe_pool.index_select(0, b_.read_slots).view({b_.rows, b_.t, -1});  // [B, T, R]
    return {kv, pe};
  }

 private:
  model::PagedLatentCache& cache_;
  const PagedBatch& b_;
};

}  // namespace

void PagedModel::repack() {
  std::vector<model::PackedFFN> packed;
  auto add = [&](model::DecoderLayerImpl& layer) {
    auto p = layer.mlp_dense ? model::pack_ffn(layer.mlp_dense.get(), nullptr)
                             : model::pack_ffn(nullptr, layer.mlp_moe.get());
    if (p) packed.push_back(std::move(*p));
    return p.has_value();
  };
  // All layers or none: a model with any FP8 FFN keeps linear_forward everywhere.
  bool ok = true;
  for (size_t l = 0; l < lm_->model->layers->size(); ++l)
    ok = ok && add(*lm_->model->layers[l]->as<model::DecoderLayerImpl>());
  for (size_t k = 0; k < lm_->mtp->size(); ++k) ok = ok && add(*lm_->mtp[k]->as<model::MTPLayerImpl>());
  if (!ok) packed.clear();
  packed_ = std::move(packed);
}

model::LatentStep PagedModel::step(model::LatentStore& store, const PagedBatch& b, model::ActivationTap* tap) const {
  model::LatentStep s;
  std::tie(s.cos, s.sin) = lm_->rotary().cos_sin(b.positions, lm_->model->embed_tokens->weight.scalar_type());
  s.allowed = b.allowed;
  s.cache = &store;
  s.ffn_layout = &packed_;
  s.tap = tap;
  return s;
}

model::LMOutput PagedModel::forward(model::PagedLatentCache& cache, const PagedBatch& b, model::ActivationTap* tap) {
  PagedStore store(cache, b);
  return lm_->forward_latent(b.tokens, step(store, b, tap));
}

torch::Tensor PagedModel::forward_mtp(model::PagedLatentCache& cache, const PagedBatch& b,
                                      const torch::Tensor& h_main) {
  GRPO_CHECK(lm_->mtp->size() > 0, "the model has no MTP module to draft with (num_nextn_predict_layers = 0)");
  GRPO_CHECK(cache.kv.size() > lm_->model->layers->size(), "paged cache has no layer for the MTP module");
  PagedStore store(cache, b);
  return lm_->forward_mtp_latent(h_main, b.tokens, step(store, b, nullptr));
}

}  // namespace grpo::rollout
