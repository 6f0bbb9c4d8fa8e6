// Model benchmark (a program, not a test): prefill and decode tokens/s of the tiny configs on
// this CPU through the absorbed latent cache, next to the peer figure of decoding without a
// cache (re-running the whole prefix per token), the achieved GFLOP/s, and the latent cache's
// bytes per token next to the formula (kv_lora_rank + qk_rope_head_dim) × layers × element size.
//
// usage: bench_model [CONFIG.json ...]   (default: model/configs/tiny.json, tiny_direct_q.json)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "model/checkpoint.h"
#include "model/config.h"

using namespace grpo::model;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Multiply-adds per token of the active weights (attention projections, the dense or the
// K routed + shared experts, lm_head), ×2 for FLOPs. Attention scores are left out: at these
// lengths they are a few percent.
double flops_per_token(const ModelConfig& c) {
  const double d = c.hidden_size, h = c.num_attention_heads;
  double attn =
      (c.q_lora_rank > 0 ? d * c.q_lora_rank + c.q_lora_rank * h * c.qk_head_dim() : d * h * c.qk_head_dim()) +
      d * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank * h * (c.qk_nope_head_dim + c.v_head_dim) +
      h * c.v_head_dim * d;
  double total = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const double ffn =
        c.is_moe_layer(l)
            ? 3 * d * c.moe_intermediate_size * (c.num_experts_per_tok + c.n_shared_experts) + d * c.n_routed_experts
            : 3 * d * c.intermediate_size;
    total += attn + ffn;
  }
  return 2 * (total + d * c.vocab_size);
}

void bench(const std::string& path) {
  torch::NoGradGuard no_grad;
  ModelConfig c = load_config(path);
  CausalLM lm(c);
  init_weights(lm, 1);
  lm->eval();
  const int64_t prompt = 128, decode = 64, batch = 8;
  auto tokens = torch::randint(c.vocab_size, {batch, prompt + decode}, torch::kLong);
  const double fpt = flops_per_token(c);

  // Prefill: the whole prompt into an empty latent cache (best of 3).
  double best_prefill = 1e30;
  LatentCache cache;
  for (int rep = 0; rep < 3; ++rep) {
    cache = LatentCache::allocate(c, batch, prompt + decode, torch::kFloat32);
    auto t0 = std::chrono::steady_clock::now();
    lm->forward_cached(tokens.narrow(1, 0, prompt), cache);
    best_prefill = std::min(best_prefill, seconds_since(t0));
  }
  // Training path on the same tokens (expanded K/V, no cache) for comparison.
  auto t0 = std::chrono::steady_clock::now();
  lm->forward(tokens.narrow(1, 0, prompt));
  const double train_fwd = seconds_since(t0);

  // Decode: one token per row per step through the cache.
  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < decode; ++i) lm->forward_cached(tokens.narrow(1, prompt + i, 1), cache);
  const double dec = seconds_since(t0);

  // Peer: decode without a cache, re-running the whole prefix for each new token (8 steps).
  const int64_t peer_steps = 8;
  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < peer_steps; ++i) lm->forward(tokens.narrow(1, 0, prompt + i + 1));
  const double peer = seconds_since(t0);

  const double prefill_tps = batch * prompt / best_prefill, decode_tps = batch * decode / dec;
  std::printf("\n%s  (layers %lld, hidden %lld, experts %lld top-%lld, q_lora %lld, threads %d)\n", path.c_str(),
              (long long)c.num_hidden_layers, (long long)c.hidden_size, (long long)c.n_routed_experts,
              (long long)c.num_experts_per_tok, (long long)c.q_lora_rank, torch::get_num_threads());
  std::printf("  %-44s %12s %12s\n", "path (FP32, batch 8)", "tokens/s", "GFLOP/s");
  std::printf("  %-44s %12.0f %12.2f\n", "prefill 128 tokens, absorbed latent cache", prefill_tps,
              prefill_tps * fpt / 1e9);
  std::printf("  %-44s %12.0f %12.2f\n", "forward 128 tokens, training path", batch * prompt / train_fwd,
              batch * prompt / train_fwd * fpt / 1e9);
  std::printf("  %-44s %12.0f %12.2f\n", "decode 64 steps, absorbed latent cache", decode_tps, decode_tps * fpt / 1e9);
  std::printf("  %-44s %12.0f %12s\n", "peer: decode without cache (full prefix)", batch * peer_steps / peer, "-");
  for (auto [name, dtype] : {std::pair{"BF16", torch::kBFloat16}, std::pair{"FP32", torch::kFloat32}}) {
    auto one = LatentCache::allocate(c, 1, 1, dtype);
    const int64_t elem = torch::elementSize(dtype);
    std::printf("  latent cache %s: %lld bytes/token measured; formula (%lld + %lld) x %lld layers x %lld B = %lld\n",
                name, (long long)one.bytes_per_token(), (long long)c.kv_lora_rank, (long long)c.qk_rope_head_dim,
                (long long)c.num_hidden_layers, (long long)elem, (long long)c.latent_cache_bytes_per_token(elem));
  }
  const int64_t naive = (c.num_attention_heads * (c.qk_head_dim() + c.v_head_dim)) * c.num_hidden_layers * 2;
  std::printf("  (a naive BF16 K+V cache would take %lld bytes/token, %.1fx more)\n", (long long)naive,
              double(naive) / c.latent_cache_bytes_per_token(2));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> configs(argv + 1, argv + argc);
  if (configs.empty())
    configs = {std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json",
               std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny_direct_q.json"};
  torch::manual_seed(0);
  std::printf("bench_model: FLOPs counted as 2 x active weights per token (attention scores excluded)\n");
  for (const auto& path : configs) {
    try {
      bench(path);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_model: %s\n", e.what());
      return 1;
    }
  }
  return 0;
}
