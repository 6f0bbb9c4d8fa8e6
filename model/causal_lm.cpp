#include "model/causal_lm.h"

#include "common/error.h"

namespace grpo::model {

DeepseekV3ModelImpl::DeepseekV3ModelImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(DecoderLayer(c, l));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

CausalLMImpl::CausalLMImpl(const ModelConfig& c) : config(c), rotary_(c) {
  model = register_module("model", DeepseekV3Model(c));
  lm_head =
      register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
  mtp = register_module("mtp", torch::nn::ModuleList());
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) mtp->push_back(MTPLayer(c, c.num_hidden_layers + k));
}

torch::Tensor causal_allowed(const torch::Tensor& key_valid, int64_t start, int64_t s_new) {
  const int64_t t = key_valid.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(key_valid.device());
  auto q_pos = torch::arange(start, start + s_new, opts).unsqueeze(1);  // [S, 1]
  auto k_pos = torch::arange(0, t, opts).unsqueeze(0);                  // [1, T]
  auto causal = (k_pos <= q_pos).unsqueeze(0);                          // [1, S, T]
  auto self = (k_pos == q_pos).unsqueeze(0);                            // [1, S, T]
  return (causal & key_valid.to(torch::kBool).unsqueeze(1)) | self;     // [B, S, T]
}

torch::Tensor CausalLMImpl::default_positions(const torch::Tensor& tokens, int64_t start) const {
  auto pos = torch::arange(start, start + tokens.size(1), tokens.options().dtype(torch::kLong));
  return pos.unsqueeze(0).expand({tokens.size(0), tokens.size(1)});
}

namespace {
void check_tokens(const torch::Tensor& tokens, int64_t vocab) {
  GRPO_CHECK(tokens.dim() == 2, "tokens must be [B, S]");
  if (tokens.numel() == 0) return;
  const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
  if (lo < 0 || hi >= vocab)
    throw Error("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary [0, " +
                std::to_string(vocab) + ")");
}
}  // namespace

LMOutput CausalLMImpl::forward(const torch::Tensor& tokens, const torch::Tensor& attention_mask,
                               const torch::Tensor& positions, bool want_routing, ActivationTap* tap) {
  check_tokens(tokens, config.vocab_size);
  auto mask = attention_mask.defined() ? attention_mask : torch::ones_like(tokens);
  auto pos = positions.defined() ? positions : default_positions(tokens, 0);
  auto h = model->embed_tokens(tokens);  // [B, S, hidden]
  tap_record(tap, "model", "embed_tokens", h);
  auto [cos, sin] = rotary_.cos_sin(pos, h.scalar_type());  // [B, S, R/2]
  auto allowed = causal_allowed(mask, 0, tokens.size(1));   // [B, S, S]
  LMOutput out;
  if (want_routing) out.routing.resize(model->layers->size());
  for (size_t l = 0; l < model->layers->size(); ++l)
    h = model->layers[l]->as<DecoderLayerImpl>()->forward(h, cos, sin, allowed,
                                                          want_routing ? &out.routing[l] : nullptr, tap);
  out.hidden = model->norm(h);
  out.logits = lm_head(out.hidden);
  tap_record(tap, "model", "norm", out.hidden);
  if (tap) tap->record("lm_head", out.logits);
  return out;
}

LMOutput CausalLMImpl::forward_latent(const torch::Tensor& tokens, const LatentStep& step, bool want_routing) {
  auto h = model->embed_tokens(tokens);  // [B, S, hidden]
  tap_record(step.tap, "model", "embed_tokens", h);
  LMOutput out;
  if (want_routing) out.routing.resize(model->layers->size());
  for (size_t l = 0; l < model->layers->size(); ++l)
    h = model->layers[l]->as<DecoderLayerImpl>()->forward_absorbed(h, step, l,
                                                                   want_routing ? &out.routing[l] : nullptr);
  out.hidden = model->norm(h);
  out.logits = lm_head(out.hidden);
  tap_record(step.tap, "model", "norm", out.hidden);
  if (step.tap) step.tap->record("lm_head", out.logits);
  return out;
}

torch::Tensor CausalLMImpl::forward_mtp_latent(const torch::Tensor& h_main, const torch::Tensor& next_tokens,
                                               const LatentStep& step) {
  GRPO_CHECK(mtp->size() > 0, "the model has no MTP module (num_nextn_predict_layers = 0)");
  auto m = mtp[0]->as<MTPLayerImpl>();
  auto h = m->forward_mtp_absorbed(h_main, model->embed_tokens(next_tokens), step, model->layers->size());
  return lm_head(m->shared_head->norm(h));
}

LMOutput CausalLMImpl::forward_cached(const torch::Tensor& tokens, LatentCache& cache,
                                      const torch::Tensor& attention_mask, const torch::Tensor& positions,
                                      bool want_routing, ActivationTap* tap) {
  check_tokens(tokens, config.vocab_size);
  const int64_t start = cache.length, s_new = tokens.size(1);
  if (tokens.size(0) != cache.batch() || start + s_new > cache.capacity())
    throw Error("latent cache holds " + std::to_string(cache.batch()) + " rows × " + std::to_string(cache.capacity()) +
                " slots with " + std::to_string(start) + " used; cannot append [" + std::to_string(tokens.size(0)) +
                ", " + std::to_string(s_new) + "] tokens");
  auto mask = attention_mask.defined() ? attention_mask : torch::ones_like(tokens);
  auto pos = positions.defined() ? positions : default_positions(tokens, start);
  cache.valid.narrow(1, start, s_new).copy_(mask.to(torch::kBool));
  ContiguousLatentStore store(cache, start, s_new);
  LatentStep step;
  std::tie(step.cos, step.sin) = rotary_.cos_sin(pos, model->embed_tokens->weight.scalar_type());
  step.allowed = causal_allowed(cache.valid.narrow(1, 0, start + s_new), start, s_new);  // [B, S, start+S]
  step.cache = &store;
  step.tap = tap;
  auto out = forward_latent(tokens, step, want_routing);
  cache.length = start + s_new;
  return out;
}

std::vector<torch::Tensor> CausalLMImpl::forward_mtp(const LMOutput& main, const torch::Tensor& tokens,
                                                     const torch::Tensor& attention_mask,
                                                     const torch::Tensor& positions,
                                                     std::vector<RouterOutput>* routing) {
  auto mask = attention_mask.defined() ? attention_mask : torch::ones_like(tokens);
  auto pos = positions.defined() ? positions : default_positions(tokens, 0);
  const int64_t s = tokens.size(1);
  auto [cos, sin] = rotary_.cos_sin(pos, main.hidden.scalar_type());
  auto allowed = causal_allowed(mask, 0, s);
  std::vector<torch::Tensor> logits;
  if (routing) routing->resize(mtp->size());
  auto h_prev = main.hidden;
  for (size_t i = 0; i < mtp->size(); ++i) {
    const int64_t k = static_cast<int64_t>(i) + 1;
    // Input token at position i is t_{i+k}; past the end there is none (token 0, masked in the loss).
    auto next = torch::zeros_like(tokens);
    if (s > k) next.narrow(1, 0, s - k).copy_(tokens.narrow(1, k, s - k));
    auto layer = mtp[i]->as<MTPLayerImpl>();
    auto h =
        layer->forward_mtp(h_prev, model->embed_tokens(next), cos, sin, allowed, routing ? &(*routing)[i] : nullptr);
    logits.push_back(lm_head(layer->shared_head->norm(h)));
    h_prev = h;
  }
  return logits;
}

void CausalLMImpl::to_dtype(torch::ScalarType dtype) {
  this->to(dtype);
  auto keep_fp32 = [](MoE& moe) {
    auto& bias = moe->gate->e_score_correction_bias;
    bias.set_data(bias.to(torch::kFloat32));
  };
  for (auto& layer : moe_layers()) keep_fp32(layer);
  for (size_t i = 0; i < mtp->size(); ++i) {
    auto layer = mtp[i]->as<MTPLayerImpl>();
    if (layer->mlp_moe) keep_fp32(layer->mlp_moe);
  }
}

std::vector<MoE> CausalLMImpl::moe_layers() {
  std::vector<MoE> out;
  for (size_t l = 0; l < model->layers->size(); ++l) {
    auto layer = model->layers[l]->as<DecoderLayerImpl>();
    if (layer->mlp_moe) out.push_back(layer->mlp_moe);
  }
  return out;
}

}  // namespace grpo::model
