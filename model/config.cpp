#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <set>

#include "common/atomic_file.h"
#include "common/error.h"

namespace grpo::model {
namespace {

using nlohmann::json;

// Typed readers: a key of the wrong type is an error naming the key and the expected type.
// null counts as absent, as in transformers.
class Reader {
 public:
  Reader(const json& j, std::string file, std::string prefix = "")
      : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {}

  bool present(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  void get(const char* key, int64_t& out) const {
    if (!present(key)) return;
    const json& v = j_.at(key);
    if (!v.is_number_integer()) fail(key, "must be an integer, got " + v.dump());
    out = v.get<int64_t>();
  }
  void get(const char* key, double& out) const {
    if (!present(key)) return;
    const json& v = j_.at(key);
    if (!v.is_number()) fail(key, "must be a number, got " + v.dump());
    out = v.get<double>();
  }
  void get(const char* key, bool& out) const {
    if (!present(key)) return;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail(key, "must be true or false, got " + v.dump());
    out = v.get<bool>();
  }
  void get(const char* key, std::string& out) const {
    if (!present(key)) return;
    const json& v = j_.at(key);
    if (!v.is_string()) fail(key, "must be a string, got " + v.dump());
    out = v.get<std::string>();
  }
  void get(const char* key, std::optional<int64_t>& out) const {
    if (!j_.contains(key)) return;
    if (j_.at(key).is_null()) {
      out.reset();
      return;
    }
    int64_t v = 0;
    get(key, v);
    out = v;
  }
  [[noreturn]] void fail(const char* key, const std::string& problem) const {
    throw file_error(file_, prefix_ + key, problem);
  }

 private:
  const json& j_;
  std::string file_;
  std::string prefix_;
};

// Keys we interpret, plus derived ones transformers writes (`head_dim`, `qk_head_dim`) that we
// recompute instead of keeping.
const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {"vocab_size",
                                             "hidden_size",
                                             "intermediate_size",
                                             "moe_intermediate_size",
                                             "num_hidden_layers",
                                             "first_k_dense_replace",
                                             "n_routed_experts",
                                             "n_shared_experts",
                                             "num_experts_per_tok",
                                             "n_group",
                                             "topk_group",
                                             "routed_scaling_factor",
                                             "scoring_func",
                                             "topk_method",
                                             "norm_topk_prob",
                                             "q_lora_rank",
                                             "kv_lora_rank",
                                             "qk_nope_head_dim",
                                             "qk_rope_head_dim",
                                             "v_head_dim",
                                             "num_attention_heads",
                                             "num_key_value_heads",
                                             "max_position_embeddings",
                                             "rope_theta",
                                             "rope_scaling",
                                             "rope_parameters",
                                             "rms_norm_eps",
                                             "hidden_act",
                                             "num_nextn_predict_layers",
                                             "num_mtp_layers",
                                             "tie_word_embeddings",
                                             "attention_bias",
                                             "quantization_config",
                                             "bos_token_id",
                                             "eos_token_id",
                                             "pad_token_id",
                                             "initializer_range",
                                             "moe_layer_freq",
                                             "ep_size",
                                             "head_dim",
                                             "qk_head_dim",
                                             "model_type",
                                             "architectures"};
  return keys;
}

RopeScaling parse_rope(const json& r, const std::string& file, const std::string& key, double& rope_theta) {
  if (!r.is_object()) throw file_error(file, key, "must be an object like {\"type\": \"yarn\", \"factor\": 40, ...}");
  Reader rd(r, file, key + ".");
  RopeScaling s;
  // Hub configs say "type", transformers >= 5 says "rope_type"; either names the kind.
  if (rd.present("rope_type"))
    rd.get("rope_type", s.type);
  else
    rd.get("type", s.type);
  rd.get("factor", s.factor);
  rd.get("original_max_position_embeddings", s.original_max_position_embeddings);
  rd.get("beta_fast", s.beta_fast);
  rd.get("beta_slow", s.beta_slow);
  rd.get("mscale", s.mscale);
  rd.get("mscale_all_dim", s.mscale_all_dim);
  rd.get("rope_theta", rope_theta);  // transformers >= 5 moves rope_theta in here
  return s;
}

QuantizationConfig parse_quant(const json& q, const std::string& file) {
  const std::string key = "quantization_config";
  if (!q.is_object()) throw file_error(file, key, "must be an object like {\"quant_method\": \"fp8\", ...}");
  Reader rd(q, file, key + ".");
  QuantizationConfig c;
  rd.get("activation_scheme", c.activation_scheme);
  rd.get("fmt", c.fmt);
  rd.get("quant_method", c.quant_method);
  rd.get("scale_fmt", c.scale_fmt);
  if (rd.present("weight_block_size")) {
    const json& b = q.at("weight_block_size");
    if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer())
      throw file_error(file, key + ".weight_block_size", "must be two integers like [128, 128], got " + b.dump());
    c.weight_block_size = {b[0].get<int64_t>(), b[1].get<int64_t>()};
  }
  return c;
}

void require(bool ok, const std::string& file, const std::string& key, const std::string& rule) {
  if (!ok) throw file_error(file, key, rule);
}

}  // namespace

double ModelConfig::softmax_scale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  // HF `yarn_apply_mscale`: only when mscale_all_dim is set, m = 0.1·mscale_all_dim·ln(factor) + 1.
  if (rope_scaling && rope_scaling->mscale_all_dim != 0.0 && rope_scaling->factor > 1.0) {
    double m = 0.1 * rope_scaling->mscale_all_dim * std::log(rope_scaling->factor) + 1.0;
    scale *= m * m;
  }
  return scale;
}

ModelConfig config_from_json(const json& j, const std::string& file) {
  if (!j.is_object()) throw file_error(file, "", "must hold a JSON object (a Hugging Face config.json)");
  Reader rd(j, file);
  ModelConfig c;
  if (rd.present("model_type")) {
    std::string type;
    rd.get("model_type", type);
    if (type != "deepseek_v3")
      rd.fail("model_type", "is \"" + type + "\"; this program runs \"deepseek_v3\" (the DeepSeek-V3 architecture)");
  }
  rd.get("vocab_size", c.vocab_size);
  rd.get("hidden_size", c.hidden_size);
  rd.get("intermediate_size", c.intermediate_size);
  rd.get("moe_intermediate_size", c.moe_intermediate_size);
  rd.get("num_hidden_layers", c.num_hidden_layers);
  rd.get("first_k_dense_replace", c.first_k_dense_replace);
  rd.get("n_routed_experts", c.n_routed_experts);
  rd.get("n_shared_experts", c.n_shared_experts);
  rd.get("num_experts_per_tok", c.num_experts_per_tok);
  rd.get("n_group", c.n_group);
  rd.get("topk_group", c.topk_group);
  rd.get("routed_scaling_factor", c.routed_scaling_factor);
  rd.get("scoring_func", c.scoring_func);
  rd.get("topk_method", c.topk_method);
  rd.get("norm_topk_prob", c.norm_topk_prob);
  // null (transformers) and 0 (DeepSeek's inference configs) both mean a direct `q_proj`.
  if (j.contains("q_lora_rank") && j.at("q_lora_rank").is_null())
    c.q_lora_rank = 0;
  else
    rd.get("q_lora_rank", c.q_lora_rank);
  rd.get("kv_lora_rank", c.kv_lora_rank);
  rd.get("qk_nope_head_dim", c.qk_nope_head_dim);
  rd.get("qk_rope_head_dim", c.qk_rope_head_dim);
  rd.get("v_head_dim", c.v_head_dim);
  rd.get("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;
  rd.get("num_key_value_heads", c.num_key_value_heads);
  rd.get("max_position_embeddings", c.max_position_embeddings);
  rd.get("rope_theta", c.rope_theta);
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (!rd.present(key)) continue;
    RopeScaling s = parse_rope(j.at(key), file, key, c.rope_theta);
    if (s.type == "default")
      c.rope_scaling.reset();  // plain RoPE (transformers >= 5 spelling)
    else
      c.rope_scaling = s;
    break;
  }
  rd.get("rms_norm_eps", c.rms_norm_eps);
  rd.get("hidden_act", c.hidden_act);
  if (rd.present("num_nextn_predict_layers"))
    rd.get("num_nextn_predict_layers", c.num_nextn_predict_layers);
  else
    rd.get("num_mtp_layers", c.num_nextn_predict_layers);
  rd.get("tie_word_embeddings", c.tie_word_embeddings);
  rd.get("attention_bias", c.attention_bias);
  if (rd.present("quantization_config")) c.quantization_config = parse_quant(j.at("quantization_config"), file);
  rd.get("bos_token_id", c.bos_token_id);
  if (j.contains("eos_token_id")) {
    const json& e = j.at("eos_token_id");
    c.eos_token_ids.clear();
    if (e.is_number_integer()) {
      c.eos_token_ids.push_back(e.get<int64_t>());
    } else if (e.is_array()) {
      for (const json& v : e) {
        if (!v.is_number_integer())
          rd.fail("eos_token_id", "must be an integer or a list of integers, got " + e.dump());
        c.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else if (!e.is_null()) {
      rd.fail("eos_token_id", "must be an integer or a list of integers, got " + e.dump());
    }
  }
  rd.get("pad_token_id", c.pad_token_id);
  rd.get("initializer_range", c.initializer_range);
  rd.get("moe_layer_freq", c.moe_layer_freq);
  rd.get("ep_size", c.ep_size);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known_keys().count(it.key())) c.extra[it.key()] = it.value();
  return c;
}

json config_to_json(const ModelConfig& c) {
  json j = c.extra;
  j["architectures"] = json::array({"DeepseekV3ForCausalLM"});
  j["model_type"] = "deepseek_v3";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["first_k_dense_replace"] = c.first_k_dense_replace;
  j["n_routed_experts"] = c.n_routed_experts;
  j["n_shared_experts"] = c.n_shared_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["n_group"] = c.n_group;
  j["topk_group"] = c.topk_group;
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["scoring_func"] = c.scoring_func;
  j["topk_method"] = c.topk_method;
  j["norm_topk_prob"] = c.norm_topk_prob;
  // transformers builds `q_a_proj` whenever q_lora_rank is not None, so 0 must be written as null.
  j["q_lora_rank"] = c.q_lora_rank > 0 ? json(c.q_lora_rank) : json(nullptr);
  j["kv_lora_rank"] = c.kv_lora_rank;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["v_head_dim"] = c.v_head_dim;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling) {
    const RopeScaling& s = *c.rope_scaling;
    json r = {{"type", s.type},
              {"factor", s.factor},
              {"original_max_position_embeddings", s.original_max_position_embeddings},
              {"beta_fast", s.beta_fast},
              {"beta_slow", s.beta_slow},
              {"mscale", s.mscale}};
    if (s.mscale_all_dim != 0.0) r["mscale_all_dim"] = s.mscale_all_dim;
    j["rope_scaling"] = r;
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["hidden_act"] = c.hidden_act;
  j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = c.attention_bias;
  if (c.quantization_config) {
    const QuantizationConfig& q = *c.quantization_config;
    json qj = {{"activation_scheme", q.activation_scheme},
               {"fmt", q.fmt},
               {"quant_method", q.quant_method},
               {"weight_block_size", q.weight_block_size}};
    if (!q.scale_fmt.empty()) qj["scale_fmt"] = q.scale_fmt;
    j["quantization_config"] = qj;
  }
  j["bos_token_id"] = c.bos_token_id ? json(*c.bos_token_id) : json(nullptr);
  j["eos_token_id"] = c.eos_token_ids.size() == 1 ? json(c.eos_token_ids[0]) : json(c.eos_token_ids);
  j["pad_token_id"] = c.pad_token_id ? json(*c.pad_token_id) : json(nullptr);
  j["initializer_range"] = c.initializer_range;
  j["moe_layer_freq"] = c.moe_layer_freq;
  j["ep_size"] = c.ep_size;
  return j;
}

void validate_config(const ModelConfig& c, const std::string& file) {
  auto positive = [&](int64_t v, const char* key) {
    require(v > 0, file, key, "must be a positive integer, got " + std::to_string(v));
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.kv_lora_rank, "kv_lora_rank");
  positive(c.qk_nope_head_dim, "qk_nope_head_dim");
  positive(c.qk_rope_head_dim, "qk_rope_head_dim");
  positive(c.v_head_dim, "v_head_dim");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.max_position_embeddings, "max_position_embeddings");
  require(c.q_lora_rank >= 0, file, "q_lora_rank",
          "must be a positive integer, or 0/null for a direct query projection");
  require(c.first_k_dense_replace >= 0 && c.first_k_dense_replace <= c.num_hidden_layers, file, "first_k_dense_replace",
          "must lie in [0, num_hidden_layers = " + std::to_string(c.num_hidden_layers) + "], got " +
              std::to_string(c.first_k_dense_replace));
  require(c.qk_rope_head_dim % 2 == 0, file, "qk_rope_head_dim",
          "must be even (RoPE rotates pairs), got " + std::to_string(c.qk_rope_head_dim));
  require(c.num_nextn_predict_layers >= 0, file, "num_nextn_predict_layers", "must be >= 0");
  require(c.rms_norm_eps > 0, file, "rms_norm_eps", "must be > 0");
  require(c.rope_theta > 0, file, "rope_theta", "must be > 0");
  require(c.initializer_range >= 0, file, "initializer_range", "must be >= 0");
  require(c.hidden_act == "silu", file, "hidden_act", "must be \"silu\" (SwiGLU), got \"" + c.hidden_act + "\"");
  require(!c.attention_bias, file, "attention_bias", "must be false: DeepSeek-V3 has no linear biases");
  require(!c.tie_word_embeddings, file, "tie_word_embeddings",
          "must be false: DeepSeek-V3 keeps lm_head separate from embed_tokens");

  // MoE (spec §1.3, §4.1). Only needed when some layer is a MoE layer.
  if (c.first_k_dense_replace < c.num_hidden_layers || c.num_nextn_predict_layers > 0) {
    positive(c.n_routed_experts, "n_routed_experts");
    positive(c.moe_intermediate_size, "moe_intermediate_size");
    positive(c.n_group, "n_group");
    require(c.n_shared_experts >= 0, file, "n_shared_experts", "must be >= 0");
    require(c.scoring_func == "sigmoid", file, "scoring_func",
            "must be \"sigmoid\" (DeepSeek-V3 gate), got \"" + c.scoring_func + "\"");
    require(c.topk_method == "noaux_tc", file, "topk_method",
            "must be \"noaux_tc\" (bias-corrected group-limited top-k), got \"" + c.topk_method + "\"");
    require(c.n_routed_experts % c.n_group == 0, file, "n_routed_experts",
            "must be a multiple of n_group = " + std::to_string(c.n_group) +
                " (rule n_routed_experts % n_group == 0), got " + std::to_string(c.n_routed_experts));
    const int64_t per_group = c.n_routed_experts / c.n_group;
    require(per_group >= 2, file, "n_group",
            "leaves " + std::to_string(per_group) +
                " expert(s) per group; the group score is a top-2 sum, so n_routed_experts / n_group must be >= 2");
    require(c.topk_group >= 1 && c.topk_group <= c.n_group, file, "topk_group",
            "must lie in [1, n_group = " + std::to_string(c.n_group) + "], got " + std::to_string(c.topk_group));
    require(c.num_experts_per_tok >= 1 && c.topk_group * per_group >= c.num_experts_per_tok, file,
            "num_experts_per_tok",
            "must be >= 1 and at most topk_group * (n_routed_experts / n_group) = " +
                std::to_string(c.topk_group * per_group) + " (the experts the kept groups hold), got " +
                std::to_string(c.num_experts_per_tok));
    require(c.routed_scaling_factor > 0, file, "routed_scaling_factor", "must be > 0");
  }

  if (c.rope_scaling) {
    const RopeScaling& s = *c.rope_scaling;
    require(s.type == "yarn", file, "rope_scaling.type",
            "must be \"yarn\" (or rope_scaling null), got \"" + s.type + "\"");
    require(s.factor >= 1.0, file, "rope_scaling.factor", "must be >= 1");
    require(s.original_max_position_embeddings > 0, file, "rope_scaling.original_max_position_embeddings",
            "must be a positive integer");
    require(s.beta_fast > 0 && s.beta_slow > 0, file, "rope_scaling.beta_fast", "beta_fast and beta_slow must be > 0");
  }

  if (c.quantization_config) {
    const QuantizationConfig& q = *c.quantization_config;
    require(q.quant_method == "fp8", file, "quantization_config.quant_method",
            "must be \"fp8\", got \"" + q.quant_method + "\"");
    require(q.fmt == "e4m3", file, "quantization_config.fmt", "must be \"e4m3\", got \"" + q.fmt + "\"");
    require(q.weight_block_size == std::vector<int64_t>{128, 128}, file, "quantization_config.weight_block_size",
            "must be [128, 128] (the block FP8 kernels use)");
    require(q.scale_fmt.empty() || q.scale_fmt == "ue8m0", file, "quantization_config.scale_fmt",
            "must be absent or \"ue8m0\", got \"" + q.scale_fmt + "\"");
    // act_quant tiles activations 1x128 along K, so every GEMM input width is a multiple of 128 (spec §1.3).
    auto k128 = [&](int64_t v, const std::string& key) {
      require(v % 128 == 0, file, key,
              "is " + std::to_string(v) +
                  "; with quantization_config (FP8) every GEMM input width must be a multiple of 128");
    };
    k128(c.hidden_size, "hidden_size");
    if (c.q_lora_rank > 0) k128(c.q_lora_rank, "q_lora_rank");
    k128(c.kv_lora_rank, "kv_lora_rank");
    k128(c.num_attention_heads * c.v_head_dim, "num_attention_heads*v_head_dim");
    if (c.first_k_dense_replace > 0) k128(c.intermediate_size, "intermediate_size");
    if (c.first_k_dense_replace < c.num_hidden_layers) k128(c.moe_intermediate_size, "moe_intermediate_size");
  }
}

ModelConfig load_config(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "config.json").string();
  const std::string text = read_file(file);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw file_error(file, "", std::string("is not valid JSON (") + e.what() + ")");
  }
  ModelConfig c = config_from_json(j, file);
  validate_config(c, file);
  return c;
}

void save_config(const ModelConfig& config, const std::string& path) {
  validate_config(config, path);
  write_file_atomic(path, config_to_json(config).dump(2) + "\n");
}

}  // namespace grpo::model
