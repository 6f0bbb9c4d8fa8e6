// Double-precision finite-difference check of the whole model's gradients, touching every kind
// of parameter: attention (q LoRA and direct q), dense MLP, routed and shared experts, the gate,
// RMSNorms, embedding, lm_head and the MTP module (through the MTP loss).
#include <gtest/gtest.h>

#include "model/mtp.h"
#include "model_test_util.h"

using namespace grpo::model;

namespace {

struct GradSetup {
  CausalLM lm{nullptr};
  torch::Tensor tokens, probe;
};

// A loss that touches every output: a fixed random projection of the main logits plus the MTP loss.
torch::Tensor loss_of(GradSetup& s) {
  auto main = s.lm->forward(s.tokens);
  auto mtp = s.lm->forward_mtp(main, s.tokens);
  return (main.logits * s.probe).sum() + mtp_loss(mtp, s.tokens, {}, 0.3);
}

class GradCheck : public ::testing::TestWithParam<bool> {};

}  // namespace

TEST_P(GradCheck, FiniteDifferencesMatchAutograd) {
  ModelConfig c = mtest::micro_config(/*q_lora=*/GetParam());
  GradSetup s;
  s.lm = mtest::random_model(c, 21, torch::kFloat64);
  s.tokens = mtest::random_tokens(2, 6, c.vocab_size, 22);
  s.probe = torch::randn({2, 6, c.vocab_size}, torch::kFloat64);
  auto loss = loss_of(s);
  loss.backward();

  std::vector<std::string> kinds = {"model.embed_tokens.weight",
                                    "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
                                    "model.layers.0.self_attn.kv_a_layernorm.weight",
                                    "model.layers.0.self_attn.kv_b_proj.weight",
                                    "model.layers.0.self_attn.o_proj.weight",
                                    "model.layers.0.mlp.gate_proj.weight",
                                    "model.layers.0.mlp.down_proj.weight",
                                    "model.layers.0.input_layernorm.weight",
                                    "model.layers.1.post_attention_layernorm.weight",
                                    "model.layers.1.mlp.gate.weight",
                                    "model.layers.1.mlp.shared_experts.up_proj.weight",
                                    "model.norm.weight",
                                    "lm_head.weight",
                                    "mtp.0.eh_proj.weight",
                                    "mtp.0.enorm.weight",
                                    "mtp.0.hnorm.weight",
                                    "mtp.0.shared_head.norm.weight",
                                    "mtp.0.self_attn.kv_b_proj.weight",
                                    "mtp.0.mlp.gate.weight"};
  if (c.q_lora_rank > 0) {
    kinds.push_back("model.layers.1.self_attn.q_a_proj.weight");
    kinds.push_back("model.layers.1.self_attn.q_a_layernorm.weight");
    kinds.push_back("model.layers.1.self_attn.q_b_proj.weight");
  } else {
    kinds.push_back("model.layers.1.self_attn.q_proj.weight");
  }
  // Routed experts: check the ones this batch actually uses (largest gradient), in both MoE blocks.
  auto params = s.lm->named_parameters();
  for (const std::string prefix : {"model.layers.1.mlp.experts.", "mtp.0.mlp.experts."}) {
    double best = -1;
    std::string best_name;
    for (int e = 0; e < c.n_routed_experts; ++e) {
      const std::string name = prefix + std::to_string(e) + ".down_proj.weight";
      const torch::Tensor& grad = params[name].grad();
      if (!grad.defined()) continue;  // expert no token chose
      double g = grad.abs().max().item<double>();
      if (g > best) best = g, best_name = name;
    }
    ASSERT_GT(best, 0) << prefix;
    kinds.push_back(best_name);
    kinds.push_back(best_name.substr(0, best_name.size() - 16) + "gate_proj.weight");
  }

  torch::NoGradGuard no_grad;
  const double eps = 1e-6;
  for (const std::string& name : kinds) {
    ASSERT_TRUE(params.contains(name)) << name;
    torch::Tensor p = params[name];
    torch::Tensor g = p.grad();
    ASSERT_TRUE(g.defined()) << name << " got no gradient";
    // The entry with the largest gradient and one fixed other entry.
    const int64_t flat_max = g.abs().argmax().item<int64_t>();
    for (int64_t idx : {flat_max, (flat_max * 7 + 3) % p.numel()}) {
      auto view = p.view({-1});
      const double orig = view[idx].item<double>();
      view[idx] = orig + eps;
      const double up = loss_of(s).item<double>();
      view[idx] = orig - eps;
      const double down = loss_of(s).item<double>();
      view[idx] = orig;
      const double fd = (up - down) / (2 * eps);
      const double an = g.view({-1})[idx].item<double>();
      // Central differences in FP64: truncation ~eps², rounding ~1e-16·|loss|/eps ≈ 1e-9.
      EXPECT_NEAR(an, fd, 1e-6 + 1e-5 * std::abs(fd)) << name << "[" << idx << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(QLoraAndDirectQ, GradCheck, ::testing::Values(true, false));
