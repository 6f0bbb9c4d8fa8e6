#include "cli/actor_weights.h"

#include "model/weight_blob.h"

namespace grpo::cli {

actor::WeightBlob weights_to_blob(model::CausalLM& lm, uint64_t version, const std::string& format) {
  torch::NoGradGuard no_grad;
  return model::publish_blob(lm, model::parse_publish_format(format, "runtime.weight_format"), blob_version(version));
}

void load_weights_blob(model::CausalLM& lm, const actor::WeightBlob& blob) { model::load_blob(lm, blob); }

std::string weights_hash(model::CausalLM& lm) { return model::weights_sha256(lm); }

}  // namespace grpo::cli
