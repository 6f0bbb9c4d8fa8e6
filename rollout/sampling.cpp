#include "rollout/sampling.h"

#include <cmath>

#include "common/error.h"

namespace grpo::rollout {

void SamplingParams::validate(const std::string& where) const {
  auto bad = [&](const std::string& field, const std::string& rule, double value) {
    return file_error(where, field, "value " + std::to_string(value) + " is not allowed (" + rule + ")");
  };
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    throw bad("temperature", "temperature >= 0; 0 = greedy", temperature);
  if (!(top_p > 0.0 && top_p <= 1.0)) throw bad("top_p", "0 < top_p <= 1", top_p);
  if (top_k < 0) throw bad("top_k", "top_k >= 0; 0 = off", static_cast<double>(top_k));
  if (!(min_p >= 0.0 && min_p < 1.0)) throw bad("min_p", "0 <= min_p < 1", min_p);
  if (!(repetition_penalty > 0.0) || !std::isfinite(repetition_penalty))
    throw bad("repetition_penalty", "repetition_penalty > 0; 1 = off", repetition_penalty);
}

torch::Tensor behaviour_logprobs(const torch::Tensor& logits, const torch::Tensor& tokens, double temperature) {
  GRPO_CHECK(logits.dim() == 2 && tokens.dim() == 1 && tokens.size(0) == logits.size(0), "logits [N, V], tokens [N]");
  const double t = temperature > 0.0 ? temperature : 1.0;
  torch::Tensor logp = torch::log_softmax(logits.to(torch::kFloat32) / t, /*dim=*/-1);  // [N, V]
  return logp.gather(1, tokens.to(torch::kLong).unsqueeze(1)).squeeze(1);               // [N]
}

torch::Tensor sampling_probs(const torch::Tensor& logits_in, const SamplingParams& params,
                             const std::vector<int64_t>& history) {
  GRPO_CHECK(logits_in.dim() == 1, "sampling_probs takes one row [V]");
  torch::Tensor logits = logits_in.to(torch::kFloat32).clone();  // [V]
  const int64_t vocab = logits.size(0);
  if (params.repetition_penalty != 1.0 && !history.empty()) {
    auto acc = logits.accessor<float, 1>();
    std::vector<bool> seen(static_cast<size_t>(vocab), false);
    for (int64_t id : history) {
      if (id < 0 || id >= vocab || seen[static_cast<size_t>(id)]) continue;
      seen[static_cast<size_t>(id)] = true;
      float& x = acc[id];
      x = x > 0 ? static_cast<float>(x / params.repetition_penalty) : static_cast<float>(x * params.repetition_penalty);
    }
  }
  if (params.greedy()) {
    torch::Tensor probs = torch::zeros({vocab});
    probs[logits.argmax().item<int64_t>()] = 1.0f;
    return probs;
  }
  torch::Tensor probs = torch::softmax(logits / params.temperature, /*dim=*/0);  // [V]
  torch::Tensor keep = torch::ones({vocab}, torch::kBool);
  if (params.top_k > 0 && params.top_k < vocab) {
    auto kth = std::get<0>(torch::topk(probs, params.top_k)).min();
    keep &= probs >= kth;
  }
  if (params.min_p > 0.0) keep &= probs >= probs.max() * params.min_p;
  if (params.top_p < 1.0) {
    // Keep the smallest prefix of the sorted distribution whose mass reaches top_p: a token is
    // kept if the mass strictly before it is < top_p.
    auto [sorted, order] = torch::sort(probs, /*dim=*/0, /*descending=*/true);
    torch::Tensor before = torch::cumsum(sorted, 0) - sorted;
    torch::Tensor keep_sorted = before < params.top_p;
    torch::Tensor keep_p = torch::zeros({vocab}, torch::kBool);
    keep_p.index_put_({order}, keep_sorted);
    keep &= keep_p;
  }
  probs = probs * keep.to(torch::kFloat32);
  return probs / probs.sum();
}

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

double uniform_for(uint64_t seed, uint64_t stream, uint64_t step) {
  uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ step);
  return static_cast<double>(h >> 11) * 0x1.0p-53;  // 53 random bits → [0, 1)
}

int64_t draw(const torch::Tensor& probs, double u) {
  torch::Tensor p = probs.to(torch::kFloat64).contiguous();
  const double* data = p.data_ptr<double>();
  const int64_t n = p.size(0);
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += data[i];
  const double target = u * total;
  double cumulative = 0.0;
  int64_t last_nonzero = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (data[i] <= 0.0) continue;
    last_nonzero = i;
    cumulative += data[i];
    if (target < cumulative) return i;
  }
  GRPO_CHECK(last_nonzero >= 0, "cannot draw from an all-zero distribution");
  return last_nonzero;  // u·total rounded up to the total: the last token with mass
}

namespace {
// No truncation and no penalty: the draw distribution is softmax(logits/T) itself, so the
// behaviour log-probs computed for all rows at once serve both the draw and the record.
bool plain(const SamplingParams& p) {
  return p.repetition_penalty == 1.0 && p.top_k == 0 && p.top_p == 1.0 && p.min_p == 0.0;
}

int64_t argmax_row(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

// Inverse CDF over exp(logp) in FP64, as draw() does over probabilities.
int64_t draw_from_logp(const float* logp, int64_t n, double u) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(logp[i]));
  const double target = u * total;
  double cumulative = 0.0;
  int64_t last_nonzero = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::exp(static_cast<double>(logp[i]));
    if (p <= 0.0) continue;
    last_nonzero = i;
    cumulative += p;
    if (target < cumulative) return i;
  }
  GRPO_CHECK(last_nonzero >= 0, "cannot draw from an all-zero distribution");
  return last_nonzero;
}
}  // namespace

std::vector<SampledToken> sample_tokens(const torch::Tensor& logits, const std::vector<SamplingParams>& params,
                                        const std::vector<uint64_t>& streams, const std::vector<uint64_t>& steps,
                                        const std::vector<std::vector<int64_t>>& histories) {
  GRPO_CHECK(logits.dim() == 2, "logits must be [N, V]");
  const auto n = static_cast<size_t>(logits.size(0));
  const int64_t vocab = logits.size(1);
  GRPO_CHECK(params.size() == n && streams.size() == n && steps.size() == n, "one params/stream/step per row");
  GRPO_CHECK(histories.empty() || histories.size() == n, "histories: none or one per row");
  torch::Tensor rows = logits.to(torch::kFloat32).contiguous();
  // Behaviour log-probs of every row in one op: log softmax(logits / T), T = 1 for greedy rows.
  std::vector<float> temps(n);
  for (size_t i = 0; i < n; ++i)
    temps[i] = params[i].temperature > 0.0 ? static_cast<float>(params[i].temperature) : 1.0f;
  torch::Tensor t = torch::from_blob(temps.data(), {static_cast<int64_t>(n), 1}, torch::kFloat32);
  torch::Tensor logp = torch::log_softmax(rows / t, /*dim=*/-1).contiguous();  // [N, V]
  const float* logit_data = rows.data_ptr<float>();
  const float* logp_data = logp.data_ptr<float>();
  std::vector<SampledToken> out(n);
  static const std::vector<int64_t> kNoHistory;
  for (size_t i = 0; i < n; ++i) {
    const auto& history = histories.empty() ? kNoHistory : histories[i];
    const float* row_logits = logit_data + static_cast<int64_t>(i) * vocab;
    const float* row_logp = logp_data + static_cast<int64_t>(i) * vocab;
    int64_t token;
    if (plain(params[i]) && params[i].greedy()) {
      token = argmax_row(row_logits, vocab);
    } else if (plain(params[i])) {
      token = draw_from_logp(row_logp, vocab, uniform_for(params[i].seed, streams[i], steps[i]));
    } else {
      torch::Tensor probs = sampling_probs(rows[static_cast<int64_t>(i)], params[i], history);
      token = params[i].greedy() ? probs.argmax().item<int64_t>()
                                 : draw(probs, uniform_for(params[i].seed, streams[i], steps[i]));
    }
    out[i].token = token;
    out[i].logprob = row_logp[token];
  }
  return out;
}

}  // namespace grpo::rollout
