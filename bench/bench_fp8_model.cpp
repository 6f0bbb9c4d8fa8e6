// FP8 inference and FP8 publication of the model (a program, not a test).
//
// Table 1: logits of the FP8 model (DeepSeek's linears in F8_E4M3 with 128x128 scales, dynamic
// 1x128 activation quantization, the rest FP32) and of the BF16 model, each against the FP32
// model with the same weights: top-1 agreement, KL(P_fp32 || P_x) per token, relative error of
// the logits, and forward time. Randomly initialised weights give nearly flat distributions
// (tiny logit margins, so top-1 flips easily); pass --ckpt DIR for a trained checkpoint
// (bench_fp8_train --save DIR writes one).
//
// Table 2: bytes to publish the weights to rollout workers, BF16 vs FP8 (model/fp8_publish.h),
// for the tiny config and a ~100M-parameter config of the same shape family.
//
// usage: bench_fp8_model [--ckpt DIR] [--threads T]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_linear.h"
#include "model/fp8_publish.h"

using namespace grpo::model;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Models {
  CausalLM f32{nullptr}, bf16{nullptr}, fp8{nullptr};
};

Models make_models(const std::string& config_path, const std::string& ckpt) {
  Models m;
  if (!ckpt.empty()) {
    m.f32 = load_checkpoint(ckpt);
    m.bf16 = load_checkpoint(ckpt, torch::kBFloat16);
    m.fp8 = load_checkpoint_fp8(ckpt);
    return m;
  }
  ModelConfig c = load_config(config_path);
  m.f32 = CausalLM(c);
  m.bf16 = CausalLM(c);
  m.fp8 = CausalLM(c);
  init_weights(m.f32, 1);
  init_weights(m.bf16, 1);
  init_weights(m.fp8, 1);
  m.bf16->to_dtype(torch::kBFloat16);
  quantize_model_fp8(m.fp8);
  return m;
}

void compare(const std::string& label, CausalLM& ref, CausalLM& other, const torch::Tensor& tokens,
             const torch::Tensor& l32) {
  torch::NoGradGuard no_grad;
  auto t0 = std::chrono::steady_clock::now();
  auto lx = other->forward(tokens).logits.to(torch::kFloat32);
  const double secs = seconds_since(t0);
  auto lp32 = torch::log_softmax(l32.to(torch::kFloat64), -1), lpx = torch::log_softmax(lx.to(torch::kFloat64), -1);
  auto kl = (lp32.exp() * (lp32 - lpx)).sum(-1);  // [B, S]
  auto agree = (lx.argmax(-1) == l32.argmax(-1)).to(torch::kFloat64).mean().item<double>();
  auto rel =
      ((lx.to(torch::kFloat64) - l32.to(torch::kFloat64)).norm() / l32.to(torch::kFloat64).norm()).item<double>();
  // The FP32 model's own top-1 margin (logit gap to the runner-up) says how easy a flip is.
  std::printf("  %-6s | %8.2f%% | %12.3e | %12.3e | %10.4f | %9.1f\n", label.c_str(), 100 * agree,
              kl.mean().item<double>(), kl.max().item<double>(), rel, 1e3 * secs);
  (void)ref;
}

void logits_table(const std::string& title, Models& m, int64_t vocab) {
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(vocab, {8, 128}, torch::kLong);
  auto t0 = std::chrono::steady_clock::now();
  auto l32 = m.f32->forward(tokens).logits;
  const double secs = seconds_since(t0);
  auto top2 = std::get<0>(l32.topk(2, -1));
  const double margin = (top2.select(-1, 0) - top2.select(-1, 1)).median().item<double>();
  std::printf("\n%s: 8 x 128 random tokens; FP32 forward %.1f ms; median FP32 top-1 margin %.4f, logit std %.4f\n",
              title.c_str(), 1e3 * secs, margin, l32.std().item<double>());
  std::printf("  %-6s | %9s | %12s | %12s | %10s | %9s\n", "model", "top-1 agr", "KL mean", "KL max", "logit rel",
              "fwd ms");
  compare("bf16", m.f32, m.bf16, tokens, l32);
  compare("fp8", m.f32, m.fp8, tokens, l32);
}

ModelConfig config_100m(const ModelConfig& tiny) {
  ModelConfig c = tiny;
  c.vocab_size = 32000;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.moe_intermediate_size = 128;
  c.num_hidden_layers = 8;
  c.first_k_dense_replace = 1;
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 4;
  c.q_lora_rank = 384;
  c.kv_lora_rank = 256;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  return c;
}

void publication_row(const std::string& name, const ModelConfig& c) {
  CausalLM lm(c);  // weights' values do not change the byte counts
  int64_t params = 0;
  for (const auto& p : lm->parameters()) params += p.numel();
  PublishedWeights bf16 = publish_weights(lm, PublishFormat::kBf16);
  PublishedWeights fp8 = publish_weights(lm, PublishFormat::kFp8);
  auto total = [](const PublishedWeights& p) {
    uint64_t n = 0;
    for (const auto& t : p.tensors) n += t.bytes + t.scale_bytes;
    return n;
  };
  uint64_t linear_bf16 = 0, linear_fp8 = 0;
  for (const auto& t : bf16.tensors)
    if (is_fp8_weight_name(t.name)) linear_bf16 += t.bytes;
  for (const auto& t : fp8.tensors)
    if (is_fp8_weight_name(t.name)) linear_fp8 += t.bytes + t.scale_bytes;
  std::printf("  %-12s | %8.1f M | %12llu | %12llu | %10llu | %6.3f | %6.3f\n", name.c_str(), params / 1e6,
              static_cast<unsigned long long>(total(bf16)), static_cast<unsigned long long>(total(fp8)),
              static_cast<unsigned long long>(fp8.scale_bytes()), double(total(fp8)) / double(total(bf16)),
              double(linear_fp8) / double(linear_bf16));
}

}  // namespace

int main(int argc, char** argv) {
  std::string ckpt;
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--ckpt"))
      ckpt = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_fp8_model [--ckpt DIR] [--threads T]\n");
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  const std::string dir = std::string(GRPO_SOURCE_DIR) + "/model/configs/";
  std::printf("FP8 / BF16 logits vs FP32 (same weights), %d threads\n", threads);
  if (!ckpt.empty()) {
    Models m = make_models("", ckpt);
    logits_table("checkpoint " + ckpt, m, m.f32->config.vocab_size);
  }
  for (const char* name : {"tiny.json", "tiny_direct_q.json"}) {
    Models m = make_models(dir + name, "");
    logits_table(std::string(name) + " (random init)", m, m.f32->config.vocab_size);
  }

  std::printf(
      "\nWeight publication bytes (model/fp8_publish.h): FP8 = e4m3 linears + FP32 128x128 scales,\n"
      "BF16 everything else; ratio = FP8 / BF16 (whole model, and the FP8 linears alone)\n");
  std::printf("  %-12s | %10s | %12s | %12s | %10s | %6s | %6s\n", "config", "params", "BF16 bytes", "FP8 bytes",
              "scales", "ratio", "linear");
  ModelConfig tiny = load_config(dir + "tiny.json");
  publication_row("tiny", tiny);
  publication_row("~100M", config_100m(tiny));
  return 0;
}
