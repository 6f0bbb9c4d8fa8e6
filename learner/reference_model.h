// The frozen KL reference policy: a copy of the policy made at the start and, when the recipe
// says so (train.ref_refresh_every), refreshed from the policy every N steps so the KL term
// anchors to a recent policy rather than the initial one.
#pragma once

#include "model/causal_lm.h"

namespace grpo::learner {

// A new model with the policy's config and a copy of its parameters and buffers, in eval mode.
model::CausalLM clone_model(model::CausalLM& source);

// Copies every parameter and buffer (routing biases included) of `from` into `to` (same config).
void copy_weights(model::CausalLM& from, model::CausalLM& to);

// Whether the reference is refreshed after step `step` (1-based): every `every` steps; 0 = never.
inline bool reference_refresh_due(long step, long every) { return every > 0 && step % every == 0; }

}  // namespace grpo::learner
