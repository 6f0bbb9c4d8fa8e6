#include "learner/micro_batches.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"

namespace grpo::learner {

std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<size_t>& lengths, size_t max_tokens) {
  GRPO_CHECK(max_tokens > 0, "max_tokens must be positive");
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  std::vector<size_t> current;
  size_t longest = 0;
  for (size_t i : order) {
    const size_t len = std::max<size_t>(lengths[i], 1);
    const size_t new_longest = std::max(longest, len);
    if (!current.empty() && new_longest * (current.size() + 1) > max_tokens) {
      batches.push_back(std::move(current));
      current.clear();
      longest = 0;
    }
    current.push_back(i);
    longest = std::max(longest, len);
  }
  if (!current.empty()) batches.push_back(std::move(current));
  return batches;
}

MicroBatch collate(const std::vector<TrainSequence>& sequences, const std::vector<size_t>& rows, int64_t pad_id) {
  GRPO_CHECK(!rows.empty(), "a micro-batch needs at least one sequence");
  int64_t longest = 0;
  for (size_t r : rows) {
    const auto& s = sequences.at(r);
    GRPO_CHECK(s.prompt_len >= 1 && s.prompt_len <= static_cast<int64_t>(s.tokens.size()),
               "prompt_len must be in 1..len(tokens) (the first token has no prediction)");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(s.tokens.size()));
  }
  longest = std::max<int64_t>(longest, 2);
  const auto b = static_cast<int64_t>(rows.size());
  MicroBatch m;
  m.rows = rows;
  m.input = torch::full({b, longest}, pad_id, torch::kLong);
  m.attention = torch::zeros({b, longest}, torch::kLong);
  m.loss_mask = torch::zeros({b, longest - 1}, torch::kFloat32);
  auto input = m.input.accessor<int64_t, 2>();
  auto attention = m.attention.accessor<int64_t, 2>();
  auto mask = m.loss_mask.accessor<float, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& s = sequences[rows[static_cast<size_t>(i)]];
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      input[i][static_cast<int64_t>(t)] = s.tokens[t];
      attention[i][static_cast<int64_t>(t)] = 1;
    }
    // Target position t predicts token t+1; completion tokens are t+1 >= prompt_len.
    for (int64_t t = s.prompt_len - 1; t + 1 < static_cast<int64_t>(s.tokens.size()); ++t) mask[i][t] = 1.0f;
  }
  m.targets = m.input.slice(1, 1, longest).clone();
  return m;
}

torch::Tensor align_to_targets(const MicroBatch& batch, const std::vector<TrainSequence>& sequences,
                               const std::vector<std::vector<float>>& per_completion_token) {
  torch::Tensor out = torch::zeros_like(batch.loss_mask);
  auto acc = out.accessor<float, 2>();
  for (size_t i = 0; i < batch.rows.size(); ++i) {
    const auto& s = sequences.at(batch.rows[i]);
    const auto& values = per_completion_token.at(batch.rows[i]);
    const int64_t n = static_cast<int64_t>(s.tokens.size()) - s.prompt_len;
    GRPO_CHECK(static_cast<int64_t>(values.size()) == n, "one value per completion token");
    for (int64_t k = 0; k < n; ++k) acc[static_cast<int64_t>(i)][s.prompt_len - 1 + k] = values[static_cast<size_t>(k)];
  }
  return out;
}

}  // namespace grpo::learner
