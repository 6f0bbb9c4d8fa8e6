// Grouped generation: each prompt is prefilled once into the absorbed latent cache, the cache is
// forked G ways, and the G completions are sampled together, recording each token's behaviour
// log-prob (rollout/sampling.h) and why each completion ended.
//
// This is the simple engine: one request's group decodes as one batch on a contiguous cache,
// requests one after another. Paged cache memory, continuous batching across requests and MTP
// drafting build on the same interface (rollout issue).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "rollout/sampling.h"

namespace grpo::rollout {

struct GenerationRequest {
  std::vector<int64_t> prompt;  // token ids, BOS included if the model wants one
  SamplingParams sampling;
  int64_t group_size = 1;       // G completions of this prompt
  int64_t max_new_tokens = 256;
  std::vector<std::string> stop;  // stop strings, matched on decoded text across token boundaries
};

struct Completion {
  std::vector<int64_t> tokens;
  std::vector<float> logprobs;  // behaviour log-prob of each token
  std::string finish_reason;    // "eos" | "stop" | "length"
  uint64_t weight_version = 0;
};

struct GenerationResult {
  std::vector<Completion> completions;  // group_size of them, or none when `error` is set
  std::string error;                    // a bad request fails alone, with this message
};

struct GeneratorOptions {
  std::vector<int64_t> eos_token_ids;  // generation ends after any of these
  uint64_t weight_version = 0;         // recorded on every completion
  // Decodes token ids to text for stop strings; required when a request has stop strings.
  std::function<std::string(const std::vector<int64_t>&)> decode;
};

// Generates for every request. Never throws for a bad request (empty prompt, prompt longer than
// the context, token ids outside the vocabulary, impossible sampling settings): that request's
// result carries the error and the others complete.
std::vector<GenerationResult> generate(model::CausalLM& lm, const std::vector<GenerationRequest>& requests,
                                       const GeneratorOptions& options);

}  // namespace grpo::rollout
