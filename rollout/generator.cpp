#include "rollout/generator.h"

#include <algorithm>

#include "common/error.h"
#include "model/latent_cache.h"

namespace grpo::rollout {
namespace {

void validate(const GenerationRequest& r, const model::ModelConfig& config, size_t index) {
  const std::string where = "request " + std::to_string(index);
  if (r.prompt.empty()) throw file_error(where, "prompt", "is empty (give at least one token, e.g. BOS)");
  for (int64_t id : r.prompt)
    if (id < 0 || id >= config.vocab_size)
      throw file_error(where, "prompt", "token id " + std::to_string(id) + " is outside the vocabulary 0.." +
                                             std::to_string(config.vocab_size - 1));
  if (r.group_size < 1) throw file_error(where, "group_size", "must be at least 1");
  if (r.max_new_tokens < 1) throw file_error(where, "max_new_tokens", "must be at least 1");
  const int64_t context = config.max_position_embeddings;
  if (static_cast<int64_t>(r.prompt.size()) >= context)
    throw file_error(where, "prompt", std::to_string(r.prompt.size()) + " tokens do not fit the context of " +
                                          std::to_string(context) + " (max_position_embeddings)");
  r.sampling.validate(where);
}

// True when the completion's decoded text contains a stop string that its last token completed.
bool hits_stop(const std::vector<int64_t>& tokens, const GenerationRequest& r, const GeneratorOptions& o) {
  if (r.stop.empty()) return false;
  const std::string text = o.decode(tokens);
  const std::string before = tokens.size() > 1 ? o.decode({tokens.begin(), tokens.end() - 1}) : std::string();
  for (const auto& s : r.stop)
    if (!s.empty() && text.find(s) != std::string::npos && before.find(s) == std::string::npos) return true;
  return false;
}

GenerationResult generate_one(model::CausalLM& lm, const GenerationRequest& r, const GeneratorOptions& o) {
  torch::NoGradGuard no_grad;
  const auto& config = lm->config;
  const int64_t g = r.group_size;
  const int64_t p = static_cast<int64_t>(r.prompt.size());
  const int64_t budget = std::min<int64_t>(r.max_new_tokens, config.max_position_embeddings - p);
  auto param = lm->parameters().front();
  // Prefill once, then fork the latent cache G ways.
  auto single = model::LatentCache::allocate(config, 1, p + budget, param.options());
  auto prefill = lm->forward_cached(torch::tensor(r.prompt).unsqueeze(0), single);
  model::LatentCache cache = single.fork(g);
  torch::Tensor last_logits = prefill.logits.select(1, p - 1).expand({g, prefill.logits.size(2)});  // [G, V]

  GenerationResult result;
  result.completions.resize(static_cast<size_t>(g));
  std::vector<bool> done(static_cast<size_t>(g), false);
  std::vector<uint64_t> streams(static_cast<size_t>(g));
  for (int64_t i = 0; i < g; ++i) streams[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  const std::vector<SamplingParams> params(static_cast<size_t>(g), r.sampling);
  for (int64_t step = 0; step < budget; ++step) {
    std::vector<uint64_t> steps(static_cast<size_t>(g), static_cast<uint64_t>(step));
    std::vector<std::vector<int64_t>> histories;
    if (r.sampling.repetition_penalty != 1.0)
      for (const auto& c : result.completions) {
        histories.push_back(r.prompt);
        histories.back().insert(histories.back().end(), c.tokens.begin(), c.tokens.end());
      }
    auto sampled = sample_tokens(last_logits, params, streams, steps, histories);
    std::vector<int64_t> next(static_cast<size_t>(g), 0);
    std::vector<int64_t> live(static_cast<size_t>(g), 0);
    bool any_live = false;
    for (size_t i = 0; i < static_cast<size_t>(g); ++i) {
      if (done[i]) continue;
      auto& c = result.completions[i];
      c.tokens.push_back(sampled[i].token);
      c.logprobs.push_back(sampled[i].logprob);
      next[i] = sampled[i].token;
      const bool eos = std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), sampled[i].token) != o.eos_token_ids.end();
      if (eos) c.finish_reason = "eos";
      else if (hits_stop(c.tokens, r, o)) c.finish_reason = "stop";
      else if (step + 1 == budget) c.finish_reason = "length";
      done[i] = !c.finish_reason.empty();
      live[i] = done[i] ? 0 : 1;
      any_live = any_live || !done[i];
    }
    if (!any_live) break;
    // Finished rows still occupy the batch but their new slots are masked out.
    auto out = lm->forward_cached(torch::tensor(next).unsqueeze(1), cache, torch::tensor(live).unsqueeze(1));
    last_logits = out.logits.select(1, 0);
  }
  for (auto& c : result.completions) c.weight_version = o.weight_version;
  return result;
}

}  // namespace

std::vector<GenerationResult> generate(model::CausalLM& lm, const std::vector<GenerationRequest>& requests,
                                       const GeneratorOptions& options) {
  std::vector<GenerationResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      validate(requests[i], lm->config, i);
      if (!requests[i].stop.empty() && !options.decode)
        throw file_error("request " + std::to_string(i), "stop", "stop strings need a tokenizer to decode with");
      results[i] = generate_one(lm, requests[i], options);
    } catch (const std::exception& e) {
      results[i].completions.clear();
      results[i].error = e.what();
    }
  }
  return results;
}

}  // namespace grpo::rollout
