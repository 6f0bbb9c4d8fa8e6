#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "model/checkpoint.h"
#include "model/weights.h"
#include "model_test_util.h"

using namespace grpo::model;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("grpo_model_" + name + "_" + std::to_string(::getpid()));
  mtest::remove_tree(dir.string());
  return dir;
}

std::map<std::string, torch::Tensor> state_of(CausalLM& lm) {
  std::map<std::string, torch::Tensor> m;
  for (auto& [k, v] : checkpoint_tensors(lm)) m[k] = v.clone();
  return m;
}

std::string load_error(CausalLM& lm, const std::map<std::string, torch::Tensor>& m) {
  try {
    load_weights(lm, tensor_source(m, "ckpt"));
  } catch (const grpo::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Weights, HuggingFaceNamesAndPerExpertLayout) {
  ModelConfig c = mtest::micro_config();
  CausalLM lm(c);
  auto m = state_of(lm);
  for (const char* name :
       {"model.embed_tokens.weight", "model.layers.0.self_attn.q_a_proj.weight",
        "model.layers.0.self_attn.kv_a_layernorm.weight", "model.layers.0.mlp.gate_proj.weight",
        "model.layers.1.mlp.gate.weight", "model.layers.1.mlp.gate.e_score_correction_bias",
        "model.layers.1.mlp.experts.7.down_proj.weight", "model.layers.1.mlp.shared_experts.up_proj.weight",
        "model.layers.2.enorm.weight", "model.layers.2.hnorm.weight", "model.layers.2.eh_proj.weight",
        "model.layers.2.shared_head.norm.weight", "model.layers.2.shared_head.head.weight",
        "model.layers.2.embed_tokens.weight", "model.layers.2.self_attn.kv_b_proj.weight",
        "model.layers.2.mlp.experts.0.gate_proj.weight", "model.norm.weight", "lm_head.weight"})
    EXPECT_TRUE(m.count(name)) << name;
  EXPECT_EQ(m.at("model.layers.0.self_attn.kv_a_proj_with_mqa.weight").sizes(), (std::vector<int64_t>{20, 32}));
  EXPECT_EQ(m.at("model.layers.2.eh_proj.weight").sizes(), (std::vector<int64_t>{32, 64}));
  for (auto& [k, v] : m) EXPECT_EQ(k.find("mtp."), std::string::npos) << k;
  CausalLM direct(mtest::micro_config(false));
  EXPECT_TRUE(state_of(direct).count("model.layers.0.self_attn.q_proj.weight"));
}

TEST(Weights, SaveAndLoadFolderRoundTrip) {
  ModelConfig c = mtest::micro_config();
  CausalLM a = mtest::random_model(c, 11, torch::kFloat32);
  auto dir = fresh_dir("roundtrip");
  save_checkpoint(a, dir.string());
  EXPECT_TRUE(fs::exists(dir / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "generation_config.json"));
  LoadReport report;
  CausalLM b = load_checkpoint(dir.string(), torch::kFloat32, &report);
  EXPECT_TRUE(report.mtp_not_loaded.empty());
  auto sa = state_of(a), sb = state_of(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [k, v] : sa) EXPECT_TRUE(torch::equal(v, sb.at(k))) << k;
  mtest::remove_tree(dir.string());
}

TEST(Weights, FusedExpertLayoutLoads) {
  ModelConfig c = mtest::micro_config();
  CausalLM a = mtest::random_model(c, 12, torch::kFloat32);
  auto m = state_of(a);
  // transformers' in-memory layout: gate_up_proj [E, 2I, d] (gate rows first), down_proj [E, d, I].
  for (const std::string p : {"model.layers.1.mlp.experts", "model.layers.2.mlp.experts"}) {
    std::vector<torch::Tensor> gu, down;
    for (int e = 0; e < c.n_routed_experts; ++e) {
      const std::string b = p + "." + std::to_string(e) + ".";
      gu.push_back(torch::cat({m.at(b + "gate_proj.weight"), m.at(b + "up_proj.weight")}));
      down.push_back(m.at(b + "down_proj.weight"));
      for (const char* w : {"gate_proj.weight", "up_proj.weight", "down_proj.weight"}) m.erase(b + w);
    }
    m[p + ".gate_up_proj"] = torch::stack(gu);
    m[p + ".down_proj"] = torch::stack(down);
  }
  CausalLM b(c);
  LoadReport r = load_weights(b, tensor_source(m, "fused"));
  EXPECT_TRUE(r.fused_experts);
  auto sa = state_of(a), sb = state_of(b);
  for (auto& [k, v] : sa) EXPECT_TRUE(torch::equal(v, sb.at(k))) << k;
}

TEST(Weights, MismatchesAreListedOneByOne) {
  ModelConfig c = mtest::micro_config();
  CausalLM lm(c);
  auto m = state_of(lm);
  m.erase("model.layers.0.self_attn.o_proj.weight");
  m.erase("model.layers.1.mlp.experts.3.up_proj.weight");
  m["model.layers.0.self_attn.extra.weight"] = torch::zeros({1});
  m["model.layers.1.mlp.gate.weight"] = torch::zeros({7, 32});
  std::string msg = load_error(lm, m);
  for (const char* needle : {"ckpt: checkpoint does not match config.json", "missing tensors (2)",
                             "model.layers.0.self_attn.o_proj.weight: expected shape [32, 16]",
                             "model.layers.1.mlp.experts.3.up_proj.weight", "unexpected tensors (1)",
                             "model.layers.0.self_attn.extra.weight", "tensors with the wrong shape (1)",
                             "model.layers.1.mlp.gate.weight: has shape [7, 32], expected [8, 32]"})
    EXPECT_NE(msg.find(needle), std::string::npos) << needle << "\nin: " << msg;
}

TEST(Weights, WholeMtpModuleMayBeAbsentButNotPart) {
  ModelConfig c = mtest::micro_config();
  CausalLM lm(c);
  auto m = state_of(lm);
  auto without_mtp = m;
  for (auto it = without_mtp.begin(); it != without_mtp.end();)
    it = it->first.rfind("model.layers.2.", 0) == 0 ? without_mtp.erase(it) : std::next(it);
  EXPECT_EQ(load_weights(lm, tensor_source(without_mtp, "hf")).mtp_not_loaded, std::vector<int64_t>{0});
  m.erase("model.layers.2.eh_proj.weight");
  EXPECT_NE(load_error(lm, m).find("model.layers.2.eh_proj.weight"), std::string::npos);
}

// spec §6.3: scales multiply; the grid is ceil(dim/128) so a 144-row weight has 2 scale rows.
TEST(Weights, Fp8BlocksDequantise) {
  auto w = torch::tensor({1.0f, -2.0f, 0.5f, 448.0f}).repeat({144 * 64}).view({144, 256}).to(torch::kFloat8_e4m3fn);
  auto s = torch::tensor({{0.5f, 2.0f}, {4.0f, 8.0f}});
  auto d = dequantize_fp8_blocks(w, s, 128, 128);
  EXPECT_EQ(d[0][0].item<float>(), 0.5f);
  EXPECT_EQ(d[0][129].item<float>(), -4.0f);  // column 129 is -2 in block column 1
  EXPECT_EQ(d[130][3].item<float>(), 448.0f * 4.0f);
  EXPECT_EQ(d[143][255].item<float>(), 448.0f * 8.0f);
}
