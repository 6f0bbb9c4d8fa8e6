// Model weights under Hugging Face DeepseekV3 names, both ways.
// Loading accepts DeepSeek's published per-expert layout (`mlp.experts.N.gate_proj.weight`),
// the fused 3-D layout of transformers' in-memory modules (`mlp.experts.gate_up_proj`
// [E, 2I, d], `mlp.experts.down_proj` [E, d, I]), and FP8 block-scaled weights
// (`<name>_scale_inv`, dequantised on load). Saving always writes the per-expert layout, with
// the MTP modules at `model.layers.{num_hidden_layers+k}` and their stored copies of
// `embed_tokens` and `shared_head.head`, as DeepSeek publishes them.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace grpo::model {

// Where tensors come from: names plus a getter (a checkpoint folder, a file, a map in memory).
struct TensorSource {
  std::string description;  // names the source in errors (a folder or file path)
  std::vector<std::string> names;
  std::function<torch::Tensor(const std::string&)> get;
};
TensorSource tensor_source(const std::map<std::string, torch::Tensor>& tensors, const std::string& description);

struct LoadReport {
  bool fused_experts = false;           // some layer came in the fused 3-D layout
  int64_t fp8_weights = 0;              // F8_E4M3 + scale_inv weights in the checkpoint
  int64_t fp8_kept = 0;                 // of those, copied as they are into FP8 layers
  int64_t fp8_quantized = 0;            // FP8 layers filled by quantizing a higher-precision weight
  std::vector<int64_t> mtp_not_loaded;  // MTP module indices (0-based) the checkpoint does not hold
};

// Copies every parameter and buffer of `lm` from `source` (converted to the parameter's dtype).
// FP8 layers of `lm` (model/fp8_linear.h) take an FP8 checkpoint's weight and weight_scale_inv
// as they are, and quantize a higher-precision weight; other parameters get FP8 weights
// dequantised.
// Missing, unexpected and mis-shaped tensors give one grpo::Error listing each. An MTP module
// that is absent as a whole (transformers' save_pretrained drops MTP) is allowed and reported.
LoadReport load_weights(CausalLM& lm, const TensorSource& source);

// Hugging Face name of each of our parameters/buffers: `mtp.K.x` -> `model.layers.{L+K}.x`.
std::string hf_name(const ModelConfig& config, const std::string& module_name);

// The tensors a checkpoint of `lm` holds, by Hugging Face name, sorted by name (per-expert layout,
// MTP copies of embed_tokens/lm_head included). Tensors share storage with the module.
std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors(CausalLM& lm);

// w[i, j] · scale_inv[i/bm, j/bn] (spec §6.3) as FP32. weight: [out, in] float8_e4m3fn.
torch::Tensor dequantize_fp8_blocks(const torch::Tensor& weight, const torch::Tensor& scale_inv, int64_t block_rows,
                                    int64_t block_cols);

}  // namespace grpo::model
