#include "rollout/generator.h"

#include <algorithm>
#include <deque>
#include <map>

#include "common/error.h"
#include "model/latent_cache.h"
#include "rollout/paged_forward.h"
#include "rollout/speculative.h"

namespace grpo::rollout {
namespace {

// Salts that give the draft, the acceptance test and the residual draw their own uniforms,
// independent of the plain sampler's uniform_for(seed, stream, step).
constexpr uint64_t kDraftSalt = 0x64726166745f7531ull, kAcceptSalt = 0x6163636570745f32ull,
                   kResidualSalt = 0x7265736964755f33ull;

void validate(const GenerationRequest& r, const model::ModelConfig& config, size_t index) {
  const std::string where = "request " + std::to_string(index);
  if (r.prompt.empty()) throw file_error(where, "prompt", "is empty (give at least one token, e.g. BOS)");
  for (int64_t id : r.prompt)
    if (id < 0 || id >= config.vocab_size)
      throw file_error(
          where, "prompt",
          "token id " + std::to_string(id) + " is outside the vocabulary 0.." + std::to_string(config.vocab_size - 1));
  if (r.group_size < 1) throw file_error(where, "group_size", "must be at least 1");
  if (r.max_new_tokens < 1) throw file_error(where, "max_new_tokens", "must be at least 1");
  const int64_t context = config.max_position_embeddings;
  if (static_cast<int64_t>(r.prompt.size()) >= context)
    throw file_error(where, "prompt",
                     std::to_string(r.prompt.size()) + " tokens do not fit the context of " + std::to_string(context) +
                         " (max_position_embeddings)");
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

// A prompt prefilled once, kept until every member of its group has copied it.
struct Prefix {
  std::vector<torch::Tensor> kv, pe;  // per cache layer [P, width]
  torch::Tensor last_logits;          // [V]: predicts the first new token
  torch::Tensor last_hidden;          // [hidden]: the MTP input at position P-1
  int64_t members_left = 0;
};

struct Sequence {
  size_t request = 0;
  int64_t member = 0;  // index in the group: the sampler's stream
  std::vector<int64_t> pages;
  std::vector<int64_t> ids;              // prompt + completion; ids[length] is sampled but not yet in the cache
  int64_t length = 0;                    // positions in the main layers' cache
  int64_t budget = 0;                    // new tokens allowed
  int64_t mtp_length = 0;                // positions in the MTP layer's cache (speculative only)
  std::vector<torch::Tensor> pending_h;  // main hidden at mtp_length .. length-1 (speculative only)
  Completion* out = nullptr;
  bool done = false;
};

// No truncation and no penalty: the draw distribution is softmax(logits / T) itself.
bool plain_params(const SamplingParams& p) {
  return p.repetition_penalty == 1.0 && p.top_k == 0 && p.top_p == 1.0 && p.min_p == 0.0;
}

int64_t argmax_of(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

// Inverse CDF in FP64 over a row of probabilities, as rollout::draw.
int64_t draw_row(const float* probs, int64_t n, double u) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += probs[i];
  const double target = u * total;
  double cumulative = 0.0;
  int64_t last = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (probs[i] <= 0.0f) continue;
    last = i;
    cumulative += probs[i];
    if (target < cumulative) return i;
  }
  GRPO_CHECK(last >= 0, "cannot draw from an all-zero distribution");
  return last;
}

torch::Tensor long_tensor(std::vector<int64_t> v) {
  return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kLong).clone();
}

}  // namespace

struct Generator::Engine {
  explicit Engine(model::CausalLM lm) : model(std::move(lm)) {}
  PagedModel model;
  std::optional<model::PagedLatentCache> cache;
};

Generator::Generator(model::CausalLM lm, GeneratorOptions options)
    : engine_(std::make_unique<Engine>(std::move(lm))),
      options_(std::move(options)),
      version_(options_.weight_version) {
  GRPO_CHECK(options_.max_batch_rows >= 1, "GeneratorOptions.max_batch_rows must be >= 1");
  GRPO_CHECK(options_.page_size >= 1, "GeneratorOptions.page_size must be >= 1");
  GRPO_CHECK(options_.speculative == 0 || options_.speculative == 1,
             "GeneratorOptions.speculative: 0 (off) or 1 (one MTP draft per step) are supported");
  if (options_.speculative > 0 && engine_->model.lm()->config.num_nextn_predict_layers < 1)
    throw Error("speculative decoding needs an MTP module (num_nextn_predict_layers >= 1 in config.json)");
}

Generator::~Generator() = default;

model::CausalLM& Generator::model() { return engine_->model.lm(); }

void Generator::set_version(uint64_t version) { version_ = version; }

std::vector<GenerationResult> Generator::generate(const std::vector<GenerationRequest>& requests) {
  c10::InferenceMode inference;
  auto& lm = model();
  const auto& config = lm->config;
  const bool spec = options_.speculative > 0;
  const int64_t cache_layers = config.num_hidden_layers + (spec ? 1 : 0);
  auto param_options = lm->parameters().front().options();
  if (!engine_->cache)
    engine_->cache = model::PagedLatentCache::allocate(config, cache_layers, options_.cache_budget_bytes,
                                                       options_.page_size, param_options);
  auto& cache = *engine_->cache;
  auto& net = engine_->model;
  net.repack();  // the weights may have changed in place since the last call
  stats_ = EngineStats{};
  stats_.cache_bytes = cache.bytes_total();

  std::vector<GenerationResult> results(requests.size());
  std::vector<int64_t> budgets(requests.size(), 0), pages_needed(requests.size(), 0);
  std::deque<std::pair<size_t, int64_t>> waiting;  // (request, member) not started yet
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      const auto& r = requests[i];
      validate(r, config, i);
      if (!r.stop.empty() && !options_.decode)
        throw file_error("request " + std::to_string(i), "stop", "stop strings need a tokenizer to decode with");
      const auto p = static_cast<int64_t>(r.prompt.size());
      budgets[i] = std::min<int64_t>(r.max_new_tokens, config.max_position_embeddings - p);
      pages_needed[i] = cache.pages_for(p + budgets[i]);
      if (pages_needed[i] > cache.num_pages())
        throw file_error("request " + std::to_string(i), "max_new_tokens",
                         "prompt + budget need " +
                             std::to_string(pages_needed[i] * cache.page_size * cache.bytes_per_token()) +
                             " bytes of latent cache per sequence, the budget holds " +
                             std::to_string(cache.bytes_total()) + " (raise cache_budget_bytes)");
      results[i].completions.resize(static_cast<size_t>(r.group_size));
      for (int64_t m = 0; m < r.group_size; ++m) waiting.emplace_back(i, m);
    } catch (const std::exception& e) {
      results[i].completions.clear();
      results[i].error = e.what();
    }
  }

  auto histories_of = [&](const std::vector<Sequence*>& rows) {
    std::vector<std::vector<int64_t>> h;
    bool any = false;
    for (auto* s : rows) any = any || requests[s->request].sampling.repetition_penalty != 1.0;
    if (any)
      for (auto* s : rows) h.push_back(s->ids);
    return h;
  };
  // Appends a sampled token; true when the sequence is finished.
  auto record = [&](Sequence& s, int64_t token, float logprob) {
    const auto& r = requests[s.request];
    auto& c = *s.out;
    if (c.tokens.empty()) c.version_start = version_;
    c.version_end = c.weight_version = version_;
    c.tokens.push_back(token);
    c.logprobs.push_back(logprob);
    s.ids.push_back(token);
    if (std::find(options_.eos_token_ids.begin(), options_.eos_token_ids.end(), token) != options_.eos_token_ids.end())
      c.finish_reason = "eos";
    else if (hits_stop(c.tokens, r, options_))
      c.finish_reason = "stop";
    else if (static_cast<int64_t>(c.tokens.size()) >= s.budget)
      c.finish_reason = "length";
    s.done = !c.finish_reason.empty();
    return s.done;
  };

  auto prefill = [&](const GenerationRequest& r) {
    const auto p = static_cast<int64_t>(r.prompt.size());
    auto scratch =
        model::PagedLatentCache::allocate(config, cache_layers, cache.bytes_per_token() * p, p, param_options);
    const std::vector<int64_t> page{0};
    auto out = net.forward(scratch, make_paged_batch(scratch, {PagedRow{&page, 0, r.prompt}}));
    if (spec && p >= 2) {
      PagedRow row{&page, 0, std::vector<int64_t>(r.prompt.begin() + 1, r.prompt.end())};
      net.forward_mtp(scratch, make_paged_batch(scratch, {row}), out.hidden.narrow(1, 0, p - 1));
    }
    Prefix prefix;
    for (int64_t l = 0; l < cache_layers; ++l) {
      prefix.kv.push_back(scratch.kv[l].narrow(0, 1, p));
      prefix.pe.push_back(scratch.pe[l].narrow(0, 1, p));
    }
    prefix.last_logits = out.logits[0][p - 1];
    prefix.last_hidden = out.hidden[0][p - 1];
    prefix.members_left = r.group_size;
    return prefix;
  };

  auto start = [&](size_t ri, int64_t member, const Prefix& prefix) {
    const auto& r = requests[ri];
    const auto p = static_cast<int64_t>(r.prompt.size());
    Sequence s;
    s.request = ri;
    s.member = member;
    s.pages = cache.take(pages_needed[ri]);
    s.ids = r.prompt;
    s.length = p;
    s.budget = budgets[ri];
    s.out = &results[ri].completions[static_cast<size_t>(member)];
    std::vector<int64_t> slots(static_cast<size_t>(p));
    for (int64_t t = 0; t < p; ++t) slots[static_cast<size_t>(t)] = cache.slot_of(s.pages, t);
    auto slot_tensor = long_tensor(slots);
    for (int64_t l = 0; l < cache_layers; ++l) {
      cache.kv[l].index_copy_(0, slot_tensor, prefix.kv[l]);
      cache.pe[l].index_copy_(0, slot_tensor, prefix.pe[l]);
    }
    if (spec) {
      s.mtp_length = p - 1;
      s.pending_h = {prefix.last_hidden};
    }
    std::vector<Sequence*> one{&s};
    auto first = sample_tokens(prefix.last_logits.unsqueeze(0), {r.sampling}, {static_cast<uint64_t>(member)}, {0},
                               histories_of(one));
    record(s, first[0].token, first[0].logprob);
    return s;
  };

  auto plain_step = [&](std::vector<Sequence>& live) {
    std::vector<PagedRow> rows;
    std::vector<SamplingParams> params;
    std::vector<uint64_t> streams, steps;
    std::vector<Sequence*> seqs;
    for (auto& s : live) {
      rows.push_back({&s.pages, s.length, {s.ids[static_cast<size_t>(s.length)]}});
      params.push_back(requests[s.request].sampling);
      streams.push_back(static_cast<uint64_t>(s.member));
      steps.push_back(s.out->tokens.size());
      seqs.push_back(&s);
    }
    auto out = net.forward(cache, make_paged_batch(cache, rows));
    auto sampled = sample_tokens(out.logits.select(1, 0), params, streams, steps, histories_of(seqs));
    for (size_t b = 0; b < live.size(); ++b) {
      live[b].length += 1;
      record(live[b], sampled[b].token, sampled[b].logprob);
    }
  };

  auto spec_step = [&](std::vector<Sequence>& live) {
    // 1. Draft: the MTP layer catches up on the positions the main model added last step; its
    //    output at the last one (position length-1, input token ids[length]) predicts ids[length+1].
    std::vector<PagedRow> mtp_rows;
    int64_t s_max = 0;
    for (auto& s : live) {
      mtp_rows.push_back({&s.pages, s.mtp_length,
                          std::vector<int64_t>(s.ids.begin() + s.mtp_length + 1, s.ids.begin() + s.length + 1)});
      s_max = std::max<int64_t>(s_max, static_cast<int64_t>(s.pending_h.size()));
    }
    const int64_t hidden = config.hidden_size;
    auto h_main = torch::zeros({static_cast<int64_t>(live.size()), s_max, hidden}, param_options);
    for (size_t b = 0; b < live.size(); ++b)
      h_main[static_cast<int64_t>(b)]
          .narrow(0, 0, static_cast<int64_t>(live[b].pending_h.size()))
          .copy_(torch::stack(live[b].pending_h));
    auto q_logits = net.forward_mtp(cache, make_paged_batch(cache, mtp_rows), h_main);  // [B, S, V]
    const auto rows_n = static_cast<int64_t>(live.size());
    const int64_t vocab = config.vocab_size;
    // Rows without truncation or penalty (the common case) draw from softmax(logits / T) computed
    // for all rows at once and run the acceptance rule on raw rows; the others per row.
    std::vector<float> temps(live.size());
    std::vector<int64_t> last(live.size());
    for (size_t b = 0; b < live.size(); ++b) {
      const auto& sp = requests[live[b].request].sampling;
      temps[b] = sp.temperature > 0.0 ? static_cast<float>(sp.temperature) : 1.0f;
      last[b] = static_cast<int64_t>(live[b].pending_h.size()) - 1;
    }
    auto t = torch::from_blob(temps.data(), {rows_n, 1}, torch::kFloat32).clone();
    auto q_last =
        q_logits.index({torch::arange(rows_n), long_tensor(last)}).to(torch::kFloat32).contiguous();  // [B, V]
    auto q_probs = torch::softmax(q_last / t, -1).contiguous();
    std::vector<torch::Tensor> q(live.size());  // per-row path only
    std::vector<int64_t> drafts(live.size());
    std::vector<PagedRow> rows;
    for (size_t b = 0; b < live.size(); ++b) {
      auto& s = live[b];
      const auto& sp = requests[s.request].sampling;
      const auto k = static_cast<uint64_t>(s.out->tokens.size());
      const double u = uniform_for(sp.seed ^ kDraftSalt, static_cast<uint64_t>(s.member), k);
      const auto bi = static_cast<int64_t>(b);
      if (plain_params(sp)) {
        drafts[b] = sp.greedy() ? argmax_of(q_last.data_ptr<float>() + bi * vocab, vocab)
                                : draw_row(q_probs.data_ptr<float>() + bi * vocab, vocab, u);
      } else {
        q[b] = sampling_probs(q_last[bi], sp, sp.repetition_penalty != 1.0 ? s.ids : std::vector<int64_t>{});
        drafts[b] = sp.greedy() ? q[b].argmax().item<int64_t>() : draw(q[b], u);
      }
      s.mtp_length = s.length;
      s.pending_h.clear();
      rows.push_back({&s.pages, s.length, {s.ids[static_cast<size_t>(s.length)], drafts[b]}});
    }
    // 2. Verify: the main model on [ids[length], draft] in one forward.
    auto out = net.forward(cache, make_paged_batch(cache, rows));
    auto logits0 = out.logits.select(1, 0).to(torch::kFloat32).contiguous();  // [B, V]
    auto p_probs = torch::softmax(logits0 / t, -1).contiguous();
    auto logp0 = torch::log_softmax(logits0 / t, -1).contiguous();  // behaviour log-probs (T = 1 if greedy)
    std::vector<Sequence*> bonus_rows;
    std::vector<int64_t> bonus_index;
    for (size_t b = 0; b < live.size(); ++b) {
      auto& s = live[b];
      const auto& sp = requests[s.request].sampling;
      const auto k = static_cast<uint64_t>(s.out->tokens.size());
      const auto bi = static_cast<int64_t>(b);
      const double ua = uniform_for(sp.seed ^ kAcceptSalt, static_cast<uint64_t>(s.member), k);
      const double ur = uniform_for(sp.seed ^ kResidualSalt, static_cast<uint64_t>(s.member), k);
      DraftVerdict verdict;
      if (plain_params(sp) && sp.greedy()) {
        // One-hot p and q: the draft survives exactly when it is the main model's arg-max.
        const int64_t best = argmax_of(logits0.data_ptr<float>() + bi * vocab, vocab);
        verdict = {drafts[b] == best, best};
      } else if (plain_params(sp)) {
        verdict = verify_draft(p_probs.data_ptr<float>() + bi * vocab, q_probs.data_ptr<float>() + bi * vocab, vocab,
                               drafts[b], ua, ur);
      } else {
        auto p = sampling_probs(logits0[bi], sp, sp.repetition_penalty != 1.0 ? s.ids : std::vector<int64_t>{});
        verdict = verify_draft(p, q[b], drafts[b], ua, ur);
      }
      results[s.request].drafted += 1;
      results[s.request].accepted += verdict.accepted ? 1 : 0;
      stats_.drafted += 1;
      stats_.accepted += verdict.accepted ? 1 : 0;
      s.length += 1;
      s.pending_h.push_back(out.hidden[bi][0]);
      if (record(s, verdict.token, logp0.data_ptr<float>()[bi * vocab + verdict.token]) || !verdict.accepted) continue;
      bonus_rows.push_back(&s);
      bonus_index.push_back(bi);
    }
    if (bonus_rows.empty()) return;
    // Accepted drafts are in the cache at position length-1 now; their logits give one more token.
    std::vector<SamplingParams> params;
    std::vector<uint64_t> streams, steps;
    for (auto* s : bonus_rows) {
      params.push_back(requests[s->request].sampling);
      streams.push_back(static_cast<uint64_t>(s->member));
      steps.push_back(s->out->tokens.size());
    }
    auto index = long_tensor(bonus_index);
    auto bonus =
        sample_tokens(out.logits.select(1, 1).index_select(0, index), params, streams, steps, histories_of(bonus_rows));
    for (size_t j = 0; j < bonus_rows.size(); ++j) {
      auto& s = *bonus_rows[j];
      s.length += 1;
      s.pending_h.push_back(out.hidden[bonus_index[j]][1]);
      record(s, bonus[j].token, bonus[j].logprob);
    }
  };

  std::map<size_t, Prefix> prefixes;
  std::vector<Sequence> live;
  live.reserve(static_cast<size_t>(options_.max_batch_rows));
  int64_t steps = 0;
  auto retire = [&]() {
    for (auto& s : live)
      if (s.done) cache.give_back(s.pages);
    live.erase(std::remove_if(live.begin(), live.end(), [](const Sequence& s) { return s.done; }), live.end());
  };
  while (!waiting.empty() || !live.empty()) {
    // Admit waiting sequences while a row and their pages are free.
    while (!waiting.empty() && static_cast<int64_t>(live.size()) < options_.max_batch_rows) {
      const auto [ri, member] = waiting.front();
      if (cache.pages_free() < pages_needed[ri]) break;  // a finishing sequence will free pages
      waiting.pop_front();
      auto it = prefixes.find(ri);
      if (it == prefixes.end()) it = prefixes.emplace(ri, prefill(requests[ri])).first;
      live.push_back(start(ri, member, it->second));
      if (--it->second.members_left == 0) prefixes.erase(it);
      stats_.peak_cache_bytes = std::max(stats_.peak_cache_bytes, cache.bytes_in_use());
    }
    retire();
    if (live.empty()) continue;
    stats_.peak_rows = std::max<int64_t>(stats_.peak_rows, static_cast<int64_t>(live.size()));
    stats_.rows_decoded += static_cast<int64_t>(live.size());
    if (spec)
      spec_step(live);
    else
      plain_step(live);
    ++stats_.steps;
    retire();
    if (options_.between_steps) options_.between_steps(++steps);
  }
  return results;
}

std::vector<GenerationResult> generate(model::CausalLM& lm, const std::vector<GenerationRequest>& requests,
                                       const GeneratorOptions& options) {
  Generator generator(lm, options);
  return generator.generate(requests);
}

}  // namespace grpo::rollout
