#include "learner/grpo_step.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "learner/optimizer_util.h"
#include "learner/policy_loss.h"
#include "learner/token_logprobs.h"
#include "model/moe_balance.h"

namespace grpo::learner {
namespace {

// Share of a micro-batch's MTP draft predictions (module 1: position i predicts t_{i+2}) that
// match the real token: the acceptance rate speculative decoding would see on these sequences.
std::pair<double, double> mtp_hits(const torch::Tensor& logits, const MicroBatch& mb) {
  torch::NoGradGuard no_grad;
  const int64_t n = mb.input.size(1) - 2;
  if (n <= 0) return {0, 0};
  auto pred = logits.narrow(1, 0, n).argmax(-1);
  auto ok = (mb.attention.narrow(1, 2, n) * mb.attention.narrow(1, 0, n)).to(torch::kBool);
  auto hit = (pred == mb.input.narrow(1, 2, n)) & ok;
  return {hit.sum().item<double>(), ok.sum().item<double>()};
}

struct Prepared {
  std::vector<TrainSequence> sequences;
  std::vector<std::vector<float>> behaviour;  // per completion token
  std::vector<double> advantages;
  std::vector<bool> counted;  // contributes to the loss
};

// Token statistics of the first update, over counted tokens: the policy's entropy at the sampled
// positions and the importance weights w = π_learner/π_behaviour between the learner's log-probs
// (the recomputed π_old) and the rollout's.
struct FirstUpdateTokenStats {
  double tokens = 0, entropy_sum = 0, w_sum = 0, truncated = 0;
  double w_max = -INFINITY, w_min = INFINITY;

  void add(const torch::Tensor& entropy, const torch::Tensor& learner_logp, const torch::Tensor& behaviour_logp,
           const torch::Tensor& mask, double tis_cap) {
    torch::NoGradGuard no_grad;
    const torch::Tensor m = mask > 0;
    const double n = m.sum().item<double>();
    if (n == 0) return;
    tokens += n;
    entropy_sum += entropy.masked_select(m).sum().item<double>();
    const torch::Tensor w = torch::exp(learner_logp.detach() - behaviour_logp).masked_select(m);
    w_sum += w.sum().item<double>();
    w_max = std::max(w_max, w.max().item<double>());
    w_min = std::min(w_min, w.min().item<double>());
    if (tis_cap > 0) truncated += (w > tis_cap).sum().item<double>();
  }

  void write(std::map<std::string, double>& metrics, double tis_cap) const {
    if (tokens == 0) return;
    metrics["entropy"] = entropy_sum / tokens;
    metrics["is/mean"] = w_sum / tokens;
    metrics["is/max"] = w_max;
    metrics["is/min"] = w_min;
    if (tis_cap > 0) metrics["is/truncated_fraction"] = truncated / tokens;
  }
};

}  // namespace

std::vector<std::optional<double>> shaped_rewards(const ScoredPromptGroup& group, const AlgorithmConfig& algo,
                                                  long max_new_tokens) {
  std::vector<std::optional<double>> rewards;
  rewards.reserve(group.completions.size());
  for (const auto& c : group.completions) {
    std::optional<double> r = c.reward;
    if (r && algo.overlong_cache > 0)
      *r += soft_overlong_penalty(static_cast<long>(c.tokens.size()), max_new_tokens, algo.overlong_cache);
    rewards.push_back(r);
  }
  return rewards;
}

bool group_dropped(const ScoredPromptGroup& group, const AlgorithmConfig& algo, long max_new_tokens) {
  return algo.drop_equal_groups && group_has_no_signal(shaped_rewards(group, algo, max_new_tokens));
}

GrpoStepStats grpo_step(model::CausalLM& policy, torch::optim::Optimizer& optimizer,
                        const std::vector<ScoredPromptGroup>& groups, const GrpoStepOptions& options,
                        model::CausalLM* reference) {
  const AlgorithmConfig& algo = options.algorithm;
  GRPO_CHECK(algo.loss.kl_coef == 0.0 || reference != nullptr, "kl_coef > 0 needs the reference model");
  GrpoStepStats stats;
  Prepared data;
  std::vector<double> raw_rewards;  // before the overlong penalty, as the script gave them
  double length_sum = 0, length_max = 0, truncated = 0, completions = 0;
  for (const auto& g : groups) {
    const std::vector<std::optional<double>> rewards = shaped_rewards(g, algo, options.max_new_tokens);
    for (const auto& c : g.completions) {
      if (c.reward) raw_rewards.push_back(*c.reward);
      length_sum += static_cast<double>(c.tokens.size());
      length_max = std::max(length_max, static_cast<double>(c.tokens.size()));
      truncated += c.truncated ? 1.0 : 0.0;
      completions += 1;
    }
    if (algo.drop_equal_groups && group_has_no_signal(rewards)) {
      ++stats.groups_dropped;
      continue;
    }
    ++stats.groups_used;
    auto adv = group_advantages(rewards, algo.advantages);
    for (size_t i = 0; i < g.completions.size(); ++i) {
      const auto& c = g.completions[i];
      if (c.tokens.empty()) continue;
      GRPO_CHECK(c.behaviour_logprobs.size() == c.tokens.size(), "one behaviour log-prob per completion token");
      TrainSequence s;
      s.tokens = g.prompt;
      s.tokens.insert(s.tokens.end(), c.tokens.begin(), c.tokens.end());
      s.prompt_len = static_cast<int64_t>(g.prompt.size());
      data.sequences.push_back(std::move(s));
      data.behaviour.push_back(c.behaviour_logprobs);
      data.advantages.push_back(adv[i]);
      data.counted.push_back(rewards[i].has_value() && !(algo.mask_truncated && c.truncated));
    }
  }
  // Mean and population standard deviation (1/n) of the raw rewards over every scored completion.
  double reward_mean = 0, reward_var = 0;
  for (double r : raw_rewards) reward_mean += r / static_cast<double>(raw_rewards.size());
  for (double r : raw_rewards)
    reward_var += (r - reward_mean) * (r - reward_mean) / static_cast<double>(raw_rewards.size());
  stats.metrics["reward/mean"] = reward_mean;
  stats.metrics["reward/std"] = std::sqrt(reward_var);
  stats.metrics["response_length/mean"] = length_sum / std::max(1.0, completions);
  stats.metrics["response_length/max"] = length_max;
  stats.metrics["response_length/truncated_fraction"] = truncated / std::max(1.0, completions);  // finish "length"
  stats.metrics["groups/dropped"] = static_cast<double>(stats.groups_dropped);
  stats.metrics["groups/used"] = static_cast<double>(stats.groups_used);
  if (data.sequences.empty()) return stats;

  // Global normalisers over the counted tokens of the whole batch.
  LossNormalizer normalizer;
  std::vector<size_t> lengths;
  for (size_t i = 0; i < data.sequences.size(); ++i) {
    lengths.push_back(data.sequences[i].tokens.size());
    if (!data.counted[i]) continue;
    normalizer.sequences += 1;
    normalizer.tokens +=
        static_cast<double>(data.sequences[i].tokens.size()) - static_cast<double>(data.sequences[i].prompt_len);
  }
  if (normalizer.sequences == 0) return stats;
  const auto plan = plan_micro_batches(lengths, options.micro_batch_tokens);
  std::vector<MicroBatch> batches;
  for (const auto& rows : plan) batches.push_back(collate(data.sequences, rows, options.pad_id));

  // π_old: with several updates per batch, recomputed once before the first update so every
  // update clips against the same policy. With one update, the learner's policy before it is the
  // policy of that update's own forward, so π_old is read from it (undefined here, filled in the
  // loop: no extra forward) when truncated IS needs π_old/π_behaviour (decoupled PPO); without
  // TIS the behaviour log-probs stand in for π_old (bypass).
  const bool recompute_old = options.updates_per_batch > 1;
  std::vector<torch::Tensor> old_logp(batches.size()), ref_logp(batches.size()), behaviour(batches.size());
  {
    torch::NoGradGuard no_grad;
    PrecisionScope precision(options.precision);  // π_old and π_ref with the numerics of π_θ
    for (size_t b = 0; b < batches.size(); ++b) {
      behaviour[b] = align_to_targets(batches[b], data.sequences, data.behaviour);
      if (recompute_old)
        old_logp[b] = target_logprobs(policy, batches[b], options.temperature);
      else if (algo.loss.tis_cap == 0)
        old_logp[b] = behaviour[b];
      if (algo.loss.kl_coef > 0) ref_logp[b] = target_logprobs(*reference, batches[b], options.temperature);
    }
  }
  std::vector<torch::Tensor> params;
  for (auto& p : policy->parameters())
    if (p.requires_grad()) params.push_back(p);

  auto moe = policy->moe_layers();
  const bool want_routing = !moe.empty();  // loads for the bias update and the balance metrics
  const bool with_mtp = options.mtp_loss_coef > 0 && !policy->mtp->is_empty();
  std::vector<torch::Tensor> loads(moe.size());  // tokens per expert, summed over the step's forwards
  double loss_total = 0, kl_total = 0, clip_total = 0, grad_norm = 0, tokens_seen = 0;
  double mtp_loss_total = 0, mtp_hit = 0, mtp_seen = 0;
  long updates_applied = 0;
  FirstUpdateTokenStats first;
  for (long update = 0; update < options.updates_per_batch; ++update) {
    optimizer.zero_grad();
    double loss_sum = 0, mtp_sum = 0;
    for (size_t b = 0; b < batches.size(); ++b) {
      const MicroBatch& mb = batches[b];
      // Forward and loss under the step's precision; backward() outside it (learner/precision.h).
      std::optional<PrecisionScope> precision(std::in_place, options.precision);
      model::LMOutput out = policy->forward(mb.input, mb.attention, {}, want_routing);
      if (want_routing) {
        size_t m = 0;
        for (const auto& r : out.routing) {
          if (!r.indices.defined()) continue;  // dense layer
          auto load =
              model::expert_load(r.indices.detach(), mb.attention.reshape({-1}), policy->config.n_routed_experts);
          loads[m] = loads[m].defined() ? loads[m] + load : load;
          ++m;
        }
      }
      std::vector<float> adv, counted;
      for (size_t r : mb.rows) {
        adv.push_back(static_cast<float>(data.advantages[r]));
        counted.push_back(data.counted[r] ? 1.0f : 0.0f);
      }
      PolicyLossBatch plb;
      torch::Tensor entropy;
      if (update == 0) {
        auto scores = target_logprobs_and_entropy(out, mb, options.temperature);
        plb.logp = scores.logp;
        entropy = scores.entropy;
      } else {
        plb.logp = target_logprobs(out, mb, options.temperature);
      }
      plb.old_logp = old_logp[b].defined() ? old_logp[b] : plb.logp.detach();
      plb.advantages = torch::tensor(adv);
      plb.mask = mb.loss_mask * torch::tensor(counted).unsqueeze(1);
      if (update == 0)
        first.add(entropy, recompute_old ? old_logp[b] : plb.logp, behaviour[b], plb.mask, algo.loss.tis_cap);
      if (algo.loss.kl_coef > 0) plb.ref_logp = ref_logp[b];
      if (algo.loss.tis_cap > 0) plb.behaviour_logp = behaviour[b];
      PolicyLossResult r = policy_loss(plb, algo.loss, normalizer);
      torch::Tensor total = r.loss;
      if (with_mtp) {
        // mtp_loss averages over this micro-batch's rows; weighting by rows / all rows makes the
        // accumulated gradient that of the whole batch's mean, whatever the split.
        auto mtp_logits = policy->forward_mtp(out, mb.input, mb.attention);
        const double share = static_cast<double>(mb.rows.size()) / static_cast<double>(data.sequences.size());
        auto l = model::mtp_loss(mtp_logits, mb.input, mb.attention, options.mtp_loss_coef) * share;
        mtp_sum += l.item<double>();
        total = total + l;
        auto [hit, seen] = mtp_hits(mtp_logits[0], mb);
        mtp_hit += hit;
        mtp_seen += seen;
      }
      precision.reset();
      total.backward();
      loss_sum += r.loss.item<double>();
      const double t = plb.mask.sum().item<double>();
      kl_total += r.kl_mean * t;
      clip_total += r.clip_fraction * t;
      tokens_seen += t;
    }
    grad_norm = global_grad_norm(params);
    if (!std::isfinite(loss_sum) || !std::isfinite(mtp_sum) || !std::isfinite(grad_norm)) {
      ++stats.updates_skipped;  // never write a non-finite update into the weights
      optimizer.zero_grad();
      continue;
    }
    if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, options.grad_clip);
    optimizer.step();
    loss_total += loss_sum;
    mtp_loss_total += mtp_sum;
    ++updates_applied;
  }
  // Auxiliary-loss-free balancing after the step, from the loads its forwards saw; a step whose
  // every update was skipped changes nothing.
  if (!loads.empty() && loads[0].defined()) {
    double max_over_mean = 0, cv = 0, worst = 0;
    for (size_t m = 0; m < moe.size(); ++m) {
      if (options.bias_update_speed > 0 && updates_applied > 0)
        model::update_routing_bias(moe[m]->gate->e_score_correction_bias, loads[m], options.bias_update_speed);
      auto s = model::expert_load_stats(loads[m]);
      max_over_mean += s.max_over_mean / static_cast<double>(moe.size());
      cv += s.cv / static_cast<double>(moe.size());
      worst = std::max(worst, s.max_over_mean);
    }
    stats.metrics["moe/load_max_over_mean"] = max_over_mean;  // mean over MoE layers; 1 = balanced
    stats.metrics["moe/load_max_over_mean_worst"] = worst;
    stats.metrics["moe/load_cv"] = cv;
  }
  if (with_mtp) {
    stats.metrics["mtp/loss"] = mtp_loss_total / static_cast<double>(options.updates_per_batch);
    stats.metrics["mtp/accuracy"] = mtp_seen > 0 ? mtp_hit / mtp_seen : 0.0;
  }
  const double updates = static_cast<double>(options.updates_per_batch);
  stats.metrics["loss"] = loss_total / updates;
  stats.metrics["kl"] = tokens_seen > 0 ? kl_total / tokens_seen : 0.0;
  stats.metrics["clip_fraction"] = tokens_seen > 0 ? clip_total / tokens_seen : 0.0;
  stats.metrics["grad_norm"] = grad_norm;
  first.write(stats.metrics, algo.loss.tis_cap);
  stats.metrics["updates/skipped"] = static_cast<double>(stats.updates_skipped);
  return stats;
}

}  // namespace grpo::learner
