// Shared helpers for the model unit tests: a micro config small enough for double-precision
// finite differences, and a randomly initialised model with non-trivial norms and biases.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <ftw.h>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace grpo::model::mtest {

// Every feature of the architecture at toy widths: dense + MoE layers, group-limited routing,
// shared expert, q LoRA (or direct q), YaRN, one MTP module. No quantization_config (widths are
// not multiples of 128).
inline ModelConfig micro_config(bool q_lora = true) {
  ModelConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.first_k_dense_replace = 1;
  c.n_routed_experts = 8;
  c.n_shared_experts = 1;
  c.num_experts_per_tok = 2;
  c.n_group = 4;
  c.topk_group = 2;
  c.q_lora_rank = q_lora ? 16 : 0;
  c.kv_lora_rank = 16;
  c.qk_nope_head_dim = 8;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 8;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  c.rope_scaling = RopeScaling{"yarn", 4.0, 16, 32.0, 1.0, 1.0, 1.0};
  c.num_nextn_predict_layers = 1;
  c.initializer_range = 0.2;  // large enough that every path contributes visibly
  c.quantization_config.reset();
  return c;
}

// Random weights, norm weights 1 + N(0, 0.1²), routing biases N(0, 0.05²).
inline CausalLM random_model(const ModelConfig& c, uint64_t seed, torch::ScalarType dtype = torch::kFloat64) {
  CausalLM lm(c);
  init_weights(lm, seed);
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  for (auto& p : lm->named_parameters())
    if (p.value().dim() == 1) p.value().add_(torch::empty(p.value().sizes()).normal_(0, 0.1, gen));
  for (auto& b : lm->named_buffers()) b.value().copy_(torch::empty(b.value().sizes()).normal_(0, 0.05, gen));
  lm->to_dtype(dtype);
  lm->eval();
  return lm;
}

inline torch::Tensor random_tokens(int64_t b, int64_t s, int64_t vocab, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(vocab, {b, s}, gen, torch::kLong);
}

// Removes a folder tree. Not std::filesystem::remove_all: libtorch.so exports its own copy of that
// symbol, which the dynamic linker binds first and which crashes (null call) in this build.
inline void remove_tree(const std::string& path) {
  ::nftw(
      path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace grpo::model::mtest
