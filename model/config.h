// The DeepSeek-V3 model configuration: one struct read from a Hugging Face `config.json`
// (DeepseekV3 keys, spec §1.1) in one place, validated against spec §1.3, written back.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace grpo::model {

// `rope_scaling` (hub configs) / `rope_parameters` (transformers >= 5): YaRN only.
struct RopeScaling {
  std::string type = "yarn";
  double factor = 1.0;
  int64_t original_max_position_embeddings = 4096;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;  // 0 = absent: no softmax-scale correction (HF rule)
};

// `quantization_config` of DeepSeek's FP8 checkpoints (block-scaled e4m3).
struct QuantizationConfig {
  std::string activation_scheme = "dynamic";
  std::string fmt = "e4m3";
  std::string quant_method = "fp8";
  std::vector<int64_t> weight_block_size{128, 128};
  std::string scale_fmt;  // "" = absent; "ue8m0" = power-of-two scales (V3.1)
};

// Defaults are transformers' DeepseekV3Config defaults (the 671B model), so a key missing from
// a config.json means what it means to transformers.
struct ModelConfig {
  int64_t vocab_size = 129280;
  int64_t hidden_size = 7168;
  int64_t intermediate_size = 18432;
  int64_t moe_intermediate_size = 2048;
  int64_t num_hidden_layers = 61;
  int64_t first_k_dense_replace = 3;
  int64_t n_routed_experts = 256;
  int64_t n_shared_experts = 1;
  int64_t num_experts_per_tok = 8;
  int64_t n_group = 8;
  int64_t topk_group = 4;
  double routed_scaling_factor = 2.5;
  std::string scoring_func = "sigmoid";
  std::string topk_method = "noaux_tc";
  bool norm_topk_prob = true;
  int64_t q_lora_rank = 1536;  // 0 = direct query projection (`q_proj`); written as null
  int64_t kv_lora_rank = 512;
  int64_t qk_nope_head_dim = 128;
  int64_t qk_rope_head_dim = 64;
  int64_t v_head_dim = 128;
  int64_t num_attention_heads = 128;
  int64_t num_key_value_heads = 128;  // ignored by MLA; kept for transformers
  int64_t max_position_embeddings = 4096;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";
  int64_t num_nextn_predict_layers = 1;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  std::optional<QuantizationConfig> quantization_config;
  std::optional<int64_t> bos_token_id = 0;
  std::vector<int64_t> eos_token_ids{1};  // `eos_token_id`: an int or a list
  std::optional<int64_t> pad_token_id;
  double initializer_range = 0.02;
  int64_t moe_layer_freq = 1;
  int64_t ep_size = 1;
  // Keys we do not interpret (dtype, auto_map, ...), kept so a round trip loses nothing.
  nlohmann::json extra = nlohmann::json::object();

  // Derived values (spec §1.1).
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int64_t layer) const { return n_routed_experts > 0 && layer >= first_k_dense_replace; }
  // Attention softmax scale: qk_head_dim^-1/2 times m^2 when YaRN sets mscale_all_dim (spec §3.3).
  double softmax_scale() const;
  // Bytes per token of the absorbed latent cache over all main layers (spec §3.5).
  int64_t latent_cache_bytes_per_token(int64_t element_size) const {
    return (kv_lora_rank + qk_rope_head_dim) * num_hidden_layers * element_size;
  }
};

// Parses a config.json object. `file` names the source in error messages. Does not validate.
ModelConfig config_from_json(const nlohmann::json& j, const std::string& file);
// Writes the Hugging Face form (`rope_scaling`, q_lora_rank null when 0, eos as int when single).
nlohmann::json config_to_json(const ModelConfig& config);
// Checks spec §1.3 and what this implementation supports; throws grpo::Error naming the key and rule.
void validate_config(const ModelConfig& config, const std::string& file);

// Reads, parses and validates `path` (a config.json, or a checkpoint folder holding one).
ModelConfig load_config(const std::string& path);
// Validates, then writes atomically.
void save_config(const ModelConfig& config, const std::string& path);

}  // namespace grpo::model
