// grpo_ref subcommands that run the code rollouts run (tests/reference/test_model_paged.py,
// test_model_tap.py): the paged forward of the rollout engine (rollout::PagedModel, FFNs in their
// decode layout) over prefill and decode steps with rows at different lengths, its MTP draft
// forward, the Generator itself, and the activation tap on the same path.
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/activation_tap.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "ref_tool.h"
#include "rollout/generator.h"
#include "rollout/paged_forward.h"

namespace grpo::ref {
namespace {

using model::CausalLM;
using safetensors::NamedTensors;

struct Rows {
  std::vector<std::vector<int64_t>> tokens;  // each row's real tokens (the mask's 1s)
  int64_t s = 0;                             // the padded width
  int64_t chunk = 1;                         // prefill length (decode after it)
  int64_t new_tokens = 6;                    // Generator: completion length
};

Rows read_rows(const std::string& path) {
  auto j = nlohmann::json::parse(read_file(path));
  auto tokens = j.at("tokens").get<std::vector<std::vector<int64_t>>>();
  auto mask = j.at("mask").get<std::vector<std::vector<int64_t>>>();
  Rows r;
  r.s = static_cast<int64_t>(tokens.at(0).size());
  r.chunk = j.value("chunk", int64_t{1});
  r.new_tokens = j.value("new_tokens", int64_t{6});
  for (size_t b = 0; b < tokens.size(); ++b) {
    r.tokens.emplace_back();
    for (size_t i = 0; i < tokens[b].size(); ++i)
      if (mask[b][i]) r.tokens.back().push_back(tokens[b][i]);
  }
  return r;
}

// Feeds every row's `seq` through `step_fn` on the paged cache as rollouts do: a prefill of up to
// `chunk` tokens for all rows in one batch, then steps appending 1, 2, 1, 2, ... tokens (a decode
// step, a speculative verify) to the rows that have tokens left, each row at its own length.
// step_fn(batch, rows, which) returns [B', S', D] for the batch's rows (rows[i] is row which[i]);
// each row's part is written at its positions into out [B, S, D].
template <typename StepFn>
void run_schedule(model::PagedLatentCache& cache, const std::vector<std::vector<int64_t>>& pages,
                  const std::vector<std::vector<int64_t>>& seq, int64_t chunk, torch::Tensor& out, StepFn step_fn) {
  std::vector<int64_t> done(seq.size(), 0);
  for (int64_t step = 0;; ++step) {
    const int64_t want = step == 0 ? chunk : 1 + (step + 1) % 2;
    std::vector<rollout::PagedRow> rows;
    std::vector<size_t> which;
    for (size_t b = 0; b < seq.size(); ++b) {
      const auto n = std::min<int64_t>(want, static_cast<int64_t>(seq[b].size()) - done[b]);
      if (n <= 0) continue;
      rows.push_back(
          {&pages[b], done[b], std::vector<int64_t>(seq[b].begin() + done[b], seq[b].begin() + done[b] + n)});
      which.push_back(b);
    }
    if (rows.empty()) return;
    auto batch = rollout::make_paged_batch(cache, rows);
    auto y = step_fn(batch, rows, which);  // [B', S', D]
    for (size_t i = 0; i < which.size(); ++i) {
      const auto n = static_cast<int64_t>(rows[i].tokens.size());
      out[static_cast<int64_t>(which[i])]
          .narrow(0, done[which[i]], n)
          .copy_(y[static_cast<int64_t>(i)].narrow(0, 0, n));
      done[which[i]] += n;
    }
  }
}

// paged_run CKPT INPUT.json OUT.safetensors: paged_logits [B, S, V] and paged_hidden (main model),
// paged_mtp_logits [B, S, V] (MTP module 1 at position i, input token t_{i+1}), and the
// Generator's greedy completions of each row (gen.{spec}.{b}.tokens / .logprobs, spec 0 and 1).
int paged_run(const std::vector<std::string>& args) {
  if (args.size() < 3) throw Error("usage: grpo_ref paged_run CKPT INPUT.json OUT.safetensors");
  CausalLM lm = model::load_checkpoint(args[0]);
  lm->eval();
  c10::InferenceMode inference;  // as the Generator runs (after loading: parameters stay ordinary tensors)
  const auto& c = lm->config;
  Rows r = read_rows(args[1]);
  const auto rows_n = static_cast<int64_t>(r.tokens.size());
  rollout::PagedModel net(lm);
  net.repack();  // as the Generator: FFNs in their decode layout
  const int64_t layers = c.num_hidden_layers + (c.num_nextn_predict_layers > 0 ? 1 : 0);
  // Pages of 4 positions: every row spans several pages, so the gather crosses page borders.
  auto cache = model::PagedLatentCache::allocate(c, layers, 1 << 22, /*page_size=*/4, torch::kFloat32);
  std::vector<std::vector<int64_t>> pages;
  for (const auto& t : r.tokens) pages.push_back(cache.take(cache.pages_for(static_cast<int64_t>(t.size()))));

  NamedTensors out;
  // Main model: logits and the final hidden state side by side, [B, S, V + hidden].
  auto main = torch::zeros({rows_n, r.s, c.vocab_size + c.hidden_size});
  run_schedule(cache, pages, r.tokens, r.chunk, main, [&](const rollout::PagedBatch& b, auto&, auto&) {
    auto o = net.forward(cache, b);
    return torch::cat({o.logits, o.hidden}, /*dim=*/-1);
  });
  auto hidden = main.narrow(-1, c.vocab_size, c.hidden_size);
  out.emplace_back("paged_logits", main.narrow(-1, 0, c.vocab_size).contiguous());
  out.emplace_back("paged_hidden", hidden.contiguous());

  if (c.num_nextn_predict_layers > 0) {
    // MTP cache layer L: position i holds the input token t_{i+1} with the main hidden h_i.
    std::vector<std::vector<int64_t>> next;
    for (const auto& t : r.tokens) next.emplace_back(t.begin() + 1, t.end());
    auto mtp = torch::zeros({rows_n, r.s, c.vocab_size});
    run_schedule(cache, pages, next, r.chunk, mtp,
                 [&](const rollout::PagedBatch& b, const std::vector<rollout::PagedRow>& rows,
                     const std::vector<size_t>& which) {
                   auto h = torch::zeros({b.rows, b.s, c.hidden_size});
                   for (size_t i = 0; i < rows.size(); ++i) {
                     const auto n = static_cast<int64_t>(rows[i].tokens.size());
                     h[static_cast<int64_t>(i)].narrow(0, 0, n).copy_(
                         hidden[static_cast<int64_t>(which[i])].narrow(0, rows[i].length, n));
                   }
                   return net.forward_mtp(cache, b, h);
                 });
    out.emplace_back("paged_mtp_logits", mtp);
  }

  // The engine itself: greedy completions of each row as the prompt, plain and drafting.
  for (int64_t spec = 0; spec <= (c.num_nextn_predict_layers > 0 ? 1 : 0); ++spec) {
    rollout::GeneratorOptions o;
    o.speculative = spec;
    o.page_size = 4;
    std::vector<rollout::GenerationRequest> requests;
    for (const auto& t : r.tokens) {
      rollout::GenerationRequest q;
      q.prompt = t;
      q.max_new_tokens = r.new_tokens;
      q.sampling.temperature = 0.0;
      requests.push_back(q);
    }
    auto results = rollout::generate(lm, requests, o);
    for (size_t b = 0; b < results.size(); ++b) {
      if (!results[b].error.empty()) throw Error("generate: " + results[b].error);
      const auto& comp = results[b].completions.at(0);
      const std::string key = "gen." + std::to_string(spec) + "." + std::to_string(b);
      out.emplace_back(key + ".tokens", torch::tensor(comp.tokens, torch::kLong));
      out.emplace_back(key + ".logprobs", torch::tensor(comp.logprobs, torch::kFloat32));
    }
  }
  safetensors::save_file(args[2], out);
  return 0;
}

// paged_tap CKPT INPUT.json OUT.safetensors: each row alone through the paged path (prefill of
// `chunk` tokens, then one decode step per token) with the activation tap on; writes
// tap.{b}.{name} [1, n_b, ...] (records of all forwards joined along the sequence) and
// OUT.safetensors.json, the names in forward order.
int paged_tap(const std::vector<std::string>& args) {
  if (args.size() < 3) throw Error("usage: grpo_ref paged_tap CKPT INPUT.json OUT.safetensors");
  CausalLM lm = model::load_checkpoint(args[0]);
  lm->eval();
  c10::InferenceMode inference;  // as the Generator runs (after loading: parameters stay ordinary tensors)
  Rows r = read_rows(args[1]);
  rollout::PagedModel net(lm);
  net.repack();
  auto cache = model::PagedLatentCache::allocate(lm->config, lm->config.num_hidden_layers, 1 << 22, 4, torch::kFloat32);
  NamedTensors out;
  std::vector<std::string> order;
  for (size_t b = 0; b < r.tokens.size(); ++b) {
    const auto& t = r.tokens[b];
    const auto n = static_cast<int64_t>(t.size());
    auto pages = cache.take(cache.pages_for(n));
    model::ActivationTap tap;
    for (int64_t at = 0; at < n;) {
      const int64_t k = at == 0 ? std::min(r.chunk, n) : 1;
      rollout::PagedRow row{&pages, at, std::vector<int64_t>(t.begin() + at, t.begin() + at + k)};
      net.forward(cache, rollout::make_paged_batch(cache, {row}), &tap);
      at += k;
    }
    cache.give_back(pages);
    for (const auto& name : tap.names) out.emplace_back("tap." + std::to_string(b) + "." + name, tap.joined(name));
    if (b == 0) order = tap.names;
  }
  safetensors::save_file(args[2], out);
  write_file_atomic(args[2] + ".json", nlohmann::json(order).dump());
  return 0;
}

GRPO_REF_TOOL("paged_run", paged_run);
GRPO_REF_TOOL("paged_tap", paged_tap);

}  // namespace
}  // namespace grpo::ref
