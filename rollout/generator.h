// Grouped generation with continuous batching over a paged latent cache (docs/rollout.md).
//
// Each prompt is prefilled once; its latents are copied into the pages of each of its G
// sequences. Up to max_batch_rows sequences, from any mix of prompts, decode together in one
// batch, each at its own length. A sequence that finishes returns its pages and its row at once
// and the next waiting sequence takes them, so a batch with mixed lengths does not idle on its
// longest member. Cache memory is a pool of pages with a byte budget; a sequence reserves the
// pages for prompt + budget when it starts, so decoding never runs out mid-sequence.
// With `speculative` = 1 the MTP head drafts one token per step and the main model verifies it
// in the same forward (rollout/speculative.h): outputs follow the main model's distribution.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "rollout/sampling.h"

namespace grpo::rollout {

struct GenerationRequest {
  std::vector<int64_t> prompt;  // token ids, BOS included if the model wants one
  SamplingParams sampling;
  int64_t group_size = 1;  // G completions of this prompt
  int64_t max_new_tokens = 256;
  std::vector<std::string> stop;  // stop strings, matched on decoded text across token boundaries
};

struct Completion {
  std::vector<int64_t> tokens;
  std::vector<float> logprobs;  // behaviour log-prob of each token
  std::string finish_reason;    // "eos" | "stop" | "length"
  // Weight versions that sampled the first and the last token (the generator's version: weights
  // change only between generate calls, so the two are equal; the wire keeps both).
  uint64_t version_start = 0, version_end = 0;
  uint64_t weight_version = 0;  // = version_end (older callers read this one)
};

struct GenerationResult {
  std::vector<Completion> completions;  // group_size of them, or none when `error` is set
  std::string error;                    // a bad request fails alone, with this message
  int64_t drafted = 0, accepted = 0;    // speculative decoding: MTP drafts proposed / kept
  double acceptance_rate() const {
    return drafted ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0;
  }
};

struct GeneratorOptions {
  std::vector<int64_t> eos_token_ids;  // generation ends after any of these
  uint64_t weight_version = 0;         // the version of the weights the generator starts with
  // Decodes token ids to text for stop strings; required when a request has stop strings.
  std::function<std::string(const std::vector<int64_t>&)> decode;
  int64_t max_batch_rows = 64;               // sequences decoded together in one forward
  int64_t cache_budget_bytes = 256ll << 20;  // paged latent cache size (main + MTP layers)
  int64_t page_size = 16;                    // positions per cache page
  int64_t speculative = 0;                   // MTP draft tokens per step: 0 = off, 1 = on
  // Called after every decode step with the step count (a rollout worker beats from it).
  std::function<void(int64_t step)> between_steps;
};

struct EngineStats {
  int64_t steps = 0;             // batched decode forwards
  int64_t rows_decoded = 0;      // Σ over steps of the live rows
  int64_t peak_rows = 0;         // most rows in one step
  int64_t cache_bytes = 0;       // the paged pool's size
  int64_t peak_cache_bytes = 0;  // most bytes held by live sequences' pages at once
  int64_t drafted = 0, accepted = 0;
};

class Generator {
 public:
  Generator(model::CausalLM lm, GeneratorOptions options);
  ~Generator();

  // Generates for every request. Never throws for a bad request (empty prompt, prompt longer than
  // the context, token ids outside the vocabulary, impossible sampling settings, a group that does
  // not fit the cache budget): that request's result carries the error and the others complete.
  std::vector<GenerationResult> generate(const std::vector<GenerationRequest>& requests);

  // Records a new version for weights the caller changed in place (between generate calls only).
  void set_version(uint64_t version);
  uint64_t version() const { return version_; }
  const EngineStats& stats() const { return stats_; }
  model::CausalLM& model();

 private:
  struct Engine;
  std::unique_ptr<Engine> engine_;
  GeneratorOptions options_;
  uint64_t version_ = 0;
  EngineStats stats_;
};

// One-shot form: a Generator for this call.
std::vector<GenerationResult> generate(model::CausalLM& lm, const std::vector<GenerationRequest>& requests,
                                       const GeneratorOptions& options);

}  // namespace grpo::rollout
