// The policy's weights as published to rollout workers (model/weight_blob.h over
// actor/weight_sync.h): FP32 master weights as they are, so a worker's model after loading equals
// the learner's bit for bit, and model::weights_sha256 on both sides shows it.
//
// Versions: the policy version is the number of updates applied (0 = the initial weights); the
// publisher numbers versions from 1 (it refuses a version that is not newer than the last), so
// blob.version = policy version + 1.
#pragma once

#include <string>

#include "actor/weight_sync.h"
#include "model/causal_lm.h"

namespace grpo::cli {

inline uint64_t blob_version(uint64_t policy_version) { return policy_version + 1; }
inline uint64_t policy_version(uint64_t blob_version) { return blob_version - 1; }

// `format`: runtime.weight_format ("fp32" | "bf16" | "fp8"). "fp32" carries the master weights as
// they are; the others the learner's quantization (model/fp8_publish.h), the same bits for every
// worker. Fills blob.sha256.
actor::WeightBlob weights_to_blob(model::CausalLM& lm, uint64_t policy_version, const std::string& format = "fp32");
// Loads the blob into `lm` in place; throws grpo::Error naming the tensor on a mismatch.
void load_weights_blob(model::CausalLM& lm, const actor::WeightBlob& blob);
// SHA-256 (hex) of the model's checkpoint tensors (model::weights_sha256).
std::string weights_hash(model::CausalLM& lm);

}  // namespace grpo::cli
