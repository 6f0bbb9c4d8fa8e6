#include "model/mtp.h"

namespace grpo::model {

MTPLayerImpl::MTPLayerImpl(const ModelConfig& c, int64_t layer_index) : DecoderLayerImpl(c, layer_index) {
  enorm = register_module("enorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  hnorm = register_module("hnorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  eh_proj = register_module("eh_proj",
                            torch::nn::Linear(torch::nn::LinearOptions(2 * c.hidden_size, c.hidden_size).bias(false)));
  shared_head = register_module("shared_head", SharedHead(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor MTPLayerImpl::input(const torch::Tensor& h_prev, const torch::Tensor& emb_next, ActivationTap* tap) {
  // Embedding first, as vLLM/SGLang and the released weights (spec §5.1, pitfall 6).
  auto h = eh_proj(torch::cat({enorm(emb_next), hnorm(h_prev)}, /*dim=*/-1));  // [B, S, hidden]
  tap_record(tap, tap_scope, "eh_proj", h);
  return h;
}

torch::Tensor MTPLayerImpl::forward_mtp(const torch::Tensor& h_prev, const torch::Tensor& emb_next,
                                        const torch::Tensor& cos, const torch::Tensor& sin,
                                        const torch::Tensor& allowed, RouterOutput* routing, ActivationTap* tap) {
  return forward(input(h_prev, emb_next, tap), cos, sin, allowed, routing, tap);
}

torch::Tensor MTPLayerImpl::forward_mtp_absorbed(const torch::Tensor& h_prev, const torch::Tensor& emb_next,
                                                 const LatentStep& step, size_t cache_layer) {
  return forward_absorbed(input(h_prev, emb_next, step.tap), step, cache_layer);
}

torch::Tensor mtp_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& tokens, const torch::Tensor& mask,
                       double lambda) {
  TORCH_CHECK(!logits.empty(), "mtp_loss: no MTP logits");
  const int64_t s = tokens.size(1);
  auto valid = mask.defined() ? mask.to(torch::kBool) : torch::ones_like(tokens, torch::kBool);  // [B, S]
  auto t_len = valid.sum(1).clamp_min(1).to(torch::kFloat64);                                    // [B] T per sequence
  torch::Tensor total;
  for (size_t i = 0; i < logits.size(); ++i) {
    const int64_t k = static_cast<int64_t>(i) + 1;
    const int64_t n = s - k - 1;  // positions with a target t_{i+k+1}
    torch::Tensor term;
    if (n <= 0) {
      term = logits[i].sum() * 0;  // keeps the graph; no targets in so short a sequence
    } else {
      auto lp = torch::log_softmax(logits[i].narrow(1, 0, n).to(compute_dtype(logits[i])), -1);  // [B, n, V]
      auto target = tokens.narrow(1, k + 1, n);                                                  // [B, n]
      auto nll = -lp.gather(-1, target.unsqueeze(-1)).squeeze(-1);                               // [B, n]
      auto ok = valid.narrow(1, k + 1, n) & valid.narrow(1, 0, n);
      auto per_seq = (nll * ok.to(nll.scalar_type())).sum(1) / t_len.to(nll.scalar_type());  // [B]
      term = per_seq.mean();
    }
    total = total.defined() ? total + term : term;
  }
  return total * (lambda / static_cast<double>(logits.size()));
}

}  // namespace grpo::model
