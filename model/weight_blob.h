// The torch side of weight publication (actor/weights/weight_sync.h is torch-free): a model's weights
// as a grpo::WeightBlob and back, and a hash of a model's weights that actors compare to show
// they hold the same version.
//
// Bit-exactness: "fp32" carries FP32 master weights as they are, so a rollout model loaded from
// it equals the learner's exactly; "bf16"/"fp8" carry the learner's own quantization of its
// weights (model/fp8_publish.h), so every rollout worker holds the same bits as every other and
// as the learner's quantized copy.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/sha256.h"
#include "common/weight_blob.h"
#include "model/causal_lm.h"
#include "model/fp8_publish.h"
#include "model/weights.h"

namespace grpo::model {

// "fp32" | "bf16" | "fp8" <-> PublishFormat; a bad name throws an error naming `field`.
PublishFormat parse_publish_format(const std::string& name, const std::string& field = "weight_format");
std::string publish_format_name(PublishFormat format);

// Packs `lm` (publish_weights) into a blob of `version`, with its SHA-256.
grpo::WeightBlob publish_blob(CausalLM& lm, PublishFormat format, uint64_t version);
// PublishedWeights <-> WeightBlob (the table is JSON; dtype names as in safetensors).
grpo::WeightBlob to_blob(PublishedWeights published, PublishFormat format, uint64_t version);
PublishedWeights from_blob(const grpo::WeightBlob& blob);  // checks the table against the buffer

// Loads a blob into `lm` directly (load_weights from its tensors).
LoadReport load_blob(CausalLM& lm, const grpo::WeightBlob& blob);

// Lower-case hex SHA-256 of the model's checkpoint tensors (checkpoint_tensors(lm): Hugging Face
// names, sorted), each as name, dtype, shape and its raw bytes. Two models hash equal exactly
// when they hold the same tensors bit for bit.
std::string weights_sha256(CausalLM& lm);

}  // namespace grpo::model
