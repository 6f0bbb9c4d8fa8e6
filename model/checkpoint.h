// Model checkpoint folders (Hugging Face layout): config.json + *.safetensors (+ index when
// sharded) + generation_config.json. Loading goes through the safetensors reader and
// model/weights.h; random initialisation for `grpo init`.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "model/causal_lm.h"
#include "model/weights.h"

namespace grpo::model {

// Reads config.json and the weights of `dir` into a new model with parameters in `dtype`.
CausalLM load_checkpoint(const std::string& dir, torch::ScalarType dtype = torch::kFloat32,
                         LoadReport* report = nullptr);

// FP8 inference model: the linears DeepSeek quantizes hold F8_E4M3 weights with 128x128
// weight_scale_inv (model/fp8_linear.h) and run FP8 GEMMs; the rest is in `dtype` (BF16 as in
// DeepSeek's checkpoints, or FP32), routing biases FP32. An FP8 checkpoint's weights are kept
// bit for bit (no dequantize/requantize); a BF16/FP32 checkpoint is quantized on load.
CausalLM load_checkpoint_fp8(const std::string& dir, torch::ScalarType dtype = torch::kFloat32,
                             LoadReport* report = nullptr);

// Writes config.json, model.safetensors (per-expert layout, parameter dtypes as they are) and
// generation_config.json into `dir` (created if needed); each file atomically. config.json has
// a quantization_config (DeepSeek's: dynamic e4m3 fp8, blocks [128, 128]) exactly when the model
// has FP8 layers, whose weights are then written as F8_E4M3 + weight_scale_inv.
void save_checkpoint(CausalLM& lm, const std::string& dir, size_t max_shard_bytes = 0);

// Transformers' initialisation: every Linear/Embedding weight and router weight ~ N(0, initializer_range²),
// RMSNorm weights 1, routing biases 0. Deterministic for a given seed.
void init_weights(CausalLM& lm, uint64_t seed);

}  // namespace grpo::model
