#include <gtest/gtest.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/config.h"
#include "model_test_util.h"

using grpo::model::ModelConfig;
using nlohmann::json;

namespace {

std::string tiny_path() { return std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json"; }

json v3_json() {
  return json::parse(R"({"model_type": "deepseek_v3", "vocab_size": 129280, "hidden_size": 7168,
    "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61, "first_k_dense_replace": 3,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
    "routed_scaling_factor": 2.5, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "num_attention_heads": 128, "max_position_embeddings": 163840,
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                     "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]}, "torch_dtype": "bfloat16"})");
}

// Message of the error validate/parse throws for `j`, or "" if none.
std::string error_for(const json& j) {
  try {
    grpo::model::validate_config(grpo::model::config_from_json(j, "c.json"), "c.json");
  } catch (const grpo::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelConfig, ParsesTinyConfig) {
  ModelConfig c = grpo::model::load_config(tiny_path());
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.n_routed_experts, 16);
  EXPECT_EQ(c.q_lora_rank, 128);
  EXPECT_EQ(c.qk_head_dim(), 48);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 64);
  ASSERT_TRUE(c.quantization_config.has_value());
  EXPECT_FALSE(c.is_moe_layer(0));
  EXPECT_TRUE(c.is_moe_layer(1));
}

TEST(ModelConfig, V3DerivedValuesMatchSpec) {
  ModelConfig c = grpo::model::config_from_json(v3_json(), "v3.json");
  grpo::model::validate_config(c, "v3.json");
  // spec §3.3: scale = 192^-1/2 · m², m = 0.1·ln 40 + 1 -> 0.1352338 (7 digits given).
  EXPECT_NEAR(c.softmax_scale(), 0.1352338, 5e-8);
  // spec §3.5 / §10: 61 × 576 × 2 bytes.
  EXPECT_EQ(c.latent_cache_bytes_per_token(2), 70272);
  EXPECT_EQ(c.extra.at("torch_dtype"), "bfloat16");  // unknown keys survive
}

TEST(ModelConfig, RoundTripKeepsEveryValue) {
  ModelConfig a = grpo::model::config_from_json(v3_json(), "v3.json");
  json written = grpo::model::config_to_json(a);
  ModelConfig b = grpo::model::config_from_json(written, "again.json");
  EXPECT_EQ(grpo::model::config_to_json(b), written);
  EXPECT_EQ(written.at("rope_scaling").at("factor"), 40.0);
}

TEST(ModelConfig, DirectQueryIsNullOrZero) {
  json j = v3_json();
  j["q_lora_rank"] = nullptr;
  EXPECT_EQ(grpo::model::config_from_json(j, "x").q_lora_rank, 0);
  j["q_lora_rank"] = 0;
  ModelConfig c = grpo::model::config_from_json(j, "x");
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_TRUE(grpo::model::config_to_json(c).at("q_lora_rank").is_null());  // transformers needs null
}

TEST(ModelConfig, TransformersRopeParametersForm) {
  json j = v3_json();
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "yarn"},   {"factor", 40.0},       {"original_max_position_embeddings", 4096},
                          {"beta_fast", 32},       {"beta_slow", 1},       {"mscale", 1.0},
                          {"mscale_all_dim", 1.0}, {"rope_theta", 50000.0}};
  ModelConfig c = grpo::model::config_from_json(j, "x");
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->factor, 40.0);
  EXPECT_EQ(c.rope_theta, 50000.0);
}

TEST(ModelConfig, BadValuesNameKeyAndRule) {
  struct Case {
    json change;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{{"n_routed_experts", 255}}, "c.json: n_routed_experts: must be a multiple of n_group"},
      {{{"n_group", 256}}, "c.json: n_group: leaves 1 expert(s) per group"},
      {{{"num_experts_per_tok", 200}}, "c.json: num_experts_per_tok:"},
      {{{"qk_rope_head_dim", 63}}, "c.json: qk_rope_head_dim: must be even"},
      {{{"kv_lora_rank", 500}}, "c.json: kv_lora_rank: is 500; with quantization_config (FP8)"},
      {{{"hidden_act", "gelu"}}, "c.json: hidden_act: must be \"silu\""},
      {{{"num_hidden_layers", 1.5}}, "c.json: num_hidden_layers: must be an integer"},
      {{{"rope_scaling", {{"type", "yarn"}, {"beta_fast", "x"}}}}, "c.json: rope_scaling.beta_fast: must be a number"},
  };
  for (const auto& tc : cases) {
    json j = v3_json();
    j.update(tc.change);
    std::string msg = error_for(j);
    EXPECT_NE(msg.find(tc.needle), std::string::npos) << "change " << tc.change.dump() << " gave: " << msg;
  }
  EXPECT_EQ(error_for(v3_json()), "");
}

TEST(ModelConfig, MissingFileAndBadJson) {
  EXPECT_THROW(grpo::model::load_config("/nonexistent/config.json"), grpo::Error);
  auto dir = std::filesystem::temp_directory_path() / ("grpo_cfg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "config.json").string();
  grpo::write_file_atomic(path, "{\"vocab_size\": ");
  try {
    grpo::model::load_config(dir.string());  // a folder means its config.json
    FAIL() << "expected an error";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": is not valid JSON"), std::string::npos) << e.what();
  }
  grpo::model::mtest::remove_tree(dir.string());
}
