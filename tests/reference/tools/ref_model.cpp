// grpo_ref subcommands for the model reference tests (tests/reference/test_config.py,
// test_model_*.py): config round trips, checkpoints, forward passes through both attention
// paths, MTP, gradients. Outputs are safetensors files the Python side compares.
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/logprobs.h"
#include "model/moe_balance.h"
#include "model/mtp.h"
#include "model/safetensors.h"
#include "ref_tool.h"

namespace grpo::ref {
namespace {

using model::CausalLM;
using safetensors::NamedTensors;

void need(const std::vector<std::string>& args, size_t n, const char* usage) {
  if (args.size() < n) throw Error(std::string("usage: grpo_ref ") + usage);
}

// model_config IN OUT: parse + validate IN (a config.json or folder), write OUT.
int model_config(const std::vector<std::string>& args) {
  need(args, 2, "model_config IN OUT");
  model::save_config(model::load_config(args[0]), args[1]);
  return 0;
}

// model_init CONFIG OUT SEED [perturb]: `grpo init`, plus with "perturb" random routing biases
// (so selection differs from the pure scores) and norm weights 1 + N(0, 0.1²).
int model_init(const std::vector<std::string>& args) {
  need(args, 3, "model_init CONFIG OUT SEED [perturb]");
  CausalLM lm(model::load_config(args[0]));
  const uint64_t seed = std::stoull(args[2]);
  model::init_weights(lm, seed);
  if (args.size() > 3 && args[3] == "perturb") {
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1000);
    for (auto& p : lm->named_parameters())
      if (p.value().dim() == 1) p.value().add_(torch::empty(p.value().sizes()).normal_(0, 0.1, gen));
    for (auto& b : lm->named_buffers()) b.value().copy_(torch::empty(b.value().sizes()).normal_(0, 0.05, gen));
  }
  model::save_checkpoint(lm, args[1]);
  return 0;
}

// model_load CKPT: load and print the report as JSON (errors go to stderr, exit 1).
int model_load(const std::vector<std::string>& args) {
  need(args, 1, "model_load CKPT");
  model::LoadReport r;
  model::load_checkpoint(args[0], torch::kFloat32, &r);
  nlohmann::json j = {
      {"fused_experts", r.fused_experts}, {"fp8_weights", r.fp8_weights}, {"mtp_not_loaded", r.mtp_not_loaded}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

struct Batch {
  torch::Tensor tokens;  // [B, S]
  torch::Tensor mask;    // [B, S]
  int64_t chunk = 1;
};

Batch read_batch(const std::string& path) {
  auto j = nlohmann::json::parse(read_file(path));
  Batch b;
  auto rows = j.at("tokens").get<std::vector<std::vector<int64_t>>>();
  auto mask = j.at("mask").get<std::vector<std::vector<int64_t>>>();
  std::vector<torch::Tensor> t, m;
  for (size_t i = 0; i < rows.size(); ++i) {
    t.push_back(torch::tensor(rows[i], torch::kLong));
    m.push_back(torch::tensor(mask[i], torch::kLong));
  }
  b.tokens = torch::stack(t);
  b.mask = torch::stack(m);
  b.chunk = j.value("chunk", int64_t{1});
  return b;
}

// Logits of every position, fed through the latent cache in pieces of the given sizes.
torch::Tensor cached_logits(CausalLM& lm, const Batch& b, const std::vector<int64_t>& pieces) {
  auto cache = model::LatentCache::allocate(lm->config, b.tokens.size(0), b.tokens.size(1), torch::kFloat32);
  std::vector<torch::Tensor> out;
  int64_t at = 0;
  for (int64_t n : pieces) {
    out.push_back(lm->forward_cached(b.tokens.narrow(1, at, n), cache, b.mask.narrow(1, at, n)).logits);
    at += n;
  }
  return torch::cat(out, 1);
}

// model_run CKPT INPUT.json OUT.safetensors: logits, hidden, selected experts, MTP logits and
// loss, and the logits of the cached path (one by one; two-chunk prefill; prefill then decode).
int model_run(const std::vector<std::string>& args) {
  need(args, 3, "model_run CKPT INPUT.json OUT.safetensors");
  torch::NoGradGuard no_grad;
  CausalLM lm = model::load_checkpoint(args[0]);
  lm->eval();
  Batch b = read_batch(args[1]);
  const int64_t s = b.tokens.size(1);
  NamedTensors out;
  auto main = lm->forward(b.tokens, b.mask, {}, /*want_routing=*/true);
  out.emplace_back("logits", main.logits);
  out.emplace_back("hidden", main.hidden);
  for (size_t l = 0; l < main.routing.size(); ++l)
    if (main.routing[l].indices.defined())
      out.emplace_back("experts." + std::to_string(l), std::get<0>(main.routing[l].indices.sort(-1)));
  auto mtp = lm->forward_mtp(main, b.tokens, b.mask);
  for (size_t k = 0; k < mtp.size(); ++k) out.emplace_back("mtp_logits." + std::to_string(k), mtp[k]);
  if (!mtp.empty()) out.emplace_back("mtp_loss", model::mtp_loss(mtp, b.tokens, b.mask, 0.3).reshape({1}));
  out.emplace_back("logprobs", model::next_token_logprobs(main.logits, b.tokens));

  out.emplace_back("step_logits", cached_logits(lm, b, std::vector<int64_t>(s, 1)));
  out.emplace_back("chunked_logits", cached_logits(lm, b, {b.chunk, s - b.chunk}));
  std::vector<int64_t> pieces{b.chunk};
  for (int64_t i = b.chunk; i < s; ++i) pieces.push_back(1);
  out.emplace_back("prefill_decode_logits", cached_logits(lm, b, pieces));
  auto cache = model::LatentCache::allocate(lm->config, 1, 1, torch::kBFloat16);
  out.emplace_back("cache_bytes_per_token_bf16", torch::tensor({cache.bytes_per_token()}, torch::kLong));
  safetensors::save_file(args[2], out);
  return 0;
}

// model_grad CKPT INPUT.json OUT.safetensors: gradients (by Hugging Face name) of the mean
// next-token NLL over real tokens, plus the loss.
int model_grad(const std::vector<std::string>& args) {
  need(args, 3, "model_grad CKPT INPUT.json OUT.safetensors");
  CausalLM lm = model::load_checkpoint(args[0]);
  Batch b = read_batch(args[1]);
  const int64_t s = b.tokens.size(1);
  auto lp = model::next_token_logprobs(lm->forward(b.tokens, b.mask).logits, b.tokens);  // [B, S-1]
  auto valid = (b.mask.narrow(1, 1, s - 1) * b.mask.narrow(1, 0, s - 1)).to(torch::kFloat32);
  auto loss = -(lp * valid).sum() / valid.sum();
  loss.backward();
  NamedTensors out;
  out.emplace_back("loss", loss.detach().reshape({1}));
  for (auto& p : lm->named_parameters()) {
    const std::string name = model::hf_name(lm->config, p.key());
    if (p.key().rfind("mtp.", 0) == 0) continue;  // MTP takes no part in this loss
    out.emplace_back("grad." + name, p.value().grad().defined() ? p.value().grad() : torch::zeros_like(p.value()));
  }
  safetensors::save_file(args[2], out);
  return 0;
}

GRPO_REF_TOOL("model_config", model_config);
GRPO_REF_TOOL("model_init", model_init);
GRPO_REF_TOOL("model_load", model_load);
GRPO_REF_TOOL("model_run", model_run);
GRPO_REF_TOOL("model_grad", model_grad);

}  // namespace
}  // namespace grpo::ref
