#include "learner/sft.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/error.h"
#include "learner/optimizer_util.h"
#include "learner/token_logprobs.h"

namespace grpo::learner {

torch::Tensor sft_loss(model::CausalLM& lm, const MicroBatch& batch, double denominator) {
  torch::Tensor logp = target_logprobs(lm, batch);  // [B, S-1]
  return -(logp * batch.loss_mask).sum() / std::max(denominator, 1.0);
}

void run_sft(model::CausalLM& lm, const std::vector<TrainSequence>& data, const SftOptions& options,
             const std::function<void(const SftStepStats&)>& on_step) {
  GRPO_CHECK(!data.empty(), "SFT needs at least one sequence");
  GRPO_CHECK(options.batch_sequences > 0, "batch_sequences must be positive");
  lm->train();
  std::vector<torch::Tensor> params;
  for (auto& p : lm->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::AdamW optimizer(params,
                                torch::optim::AdamWOptions(options.lr.peak_lr).weight_decay(options.weight_decay));
  LrSchedule schedule = options.lr;
  schedule.total_steps = options.steps;

  // Epochs over a seeded permutation; each step takes the next batch_sequences indices.
  std::mt19937_64 rng(options.seed);
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  size_t cursor = 0;

  for (long step = 0; step < options.steps; ++step) {
    std::vector<size_t> batch_idx;
    while (batch_idx.size() < std::min(options.batch_sequences, data.size())) {
      if (cursor == order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      batch_idx.push_back(order[cursor++]);
    }
    std::vector<TrainSequence> batch;
    std::vector<size_t> lengths;
    double tokens = 0;
    for (size_t i : batch_idx) {
      batch.push_back(data[i]);
      lengths.push_back(data[i].tokens.size());
      tokens += static_cast<double>(data[i].tokens.size()) - static_cast<double>(data[i].prompt_len);
    }
    SftStepStats stats;
    stats.step = step + 1;
    stats.tokens = tokens;
    stats.lr = learning_rate(schedule, step);
    set_adamw_lr(optimizer, stats.lr);
    optimizer.zero_grad();
    double loss_sum = 0.0;
    for (const auto& rows : plan_micro_batches(lengths, options.micro_batch_tokens)) {
      MicroBatch mb = collate(batch, rows, options.pad_id);
      torch::Tensor loss;
      {
        PrecisionScope precision(options.precision);  // forward and loss only, not backward
        loss = sft_loss(lm, mb, tokens);
      }
      loss.backward();
      loss_sum += loss.item<double>();
    }
    stats.loss = loss_sum;
    stats.grad_norm = global_grad_norm(params);
    if (!std::isfinite(stats.loss) || !std::isfinite(stats.grad_norm)) {
      stats.skipped = true;  // never write a non-finite update into the weights
      optimizer.zero_grad();
    } else {
      if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, options.grad_clip);
      optimizer.step();
    }
    if (on_step) on_step(stats);
  }
  lm->eval();
}

}  // namespace grpo::learner
