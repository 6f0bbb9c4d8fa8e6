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

// Writes config.json, model.safetensors (per-expert layout, parameter dtypes as they are) and
// generation_config.json into `dir` (created if needed); each file atomically. config.json
// leaves out quantization_config, since these weights are not FP8.
void save_checkpoint(CausalLM& lm, const std::string& dir, size_t max_shard_bytes = 0);

// Transformers' initialisation: every Linear/Embedding weight and router weight ~ N(0, initializer_range²),
// RMSNorm weights 1, routing biases 0. Deterministic for a given seed.
void init_weights(CausalLM& lm, uint64_t seed);

}  // namespace grpo::model
