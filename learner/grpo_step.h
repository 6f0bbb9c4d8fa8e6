// One GRPO-family update from a batch of scored groups: advantages per group, optional dynamic
// sampling (drop groups without signal), then `updates_per_batch` optimizer steps over
// micro-batches, each with the policy loss of learner/policy_loss.h normalised over the whole
// batch (so the result does not depend on the micro-batch split).
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "learner/algorithm_config.h"
#include "learner/micro_batches.h"
#include "learner/precision.h"
#include "model/causal_lm.h"

namespace grpo::learner {

// One completion of a group as the learner receives it.
struct ScoredCompletion {
  std::vector<int64_t> tokens;
  std::vector<float> behaviour_logprobs;  // from the rollout (rollout/sampling.h definition)
  std::optional<double> reward;           // nullopt: not applicable (masked out)
  bool truncated = false;                 // finish_reason == "length"
};

struct ScoredPromptGroup {
  std::vector<int64_t> prompt;
  std::vector<ScoredCompletion> completions;
};

// The rewards the step uses for a group: the script's, plus DAPO's soft overlong penalty when
// algorithm.overlong_cache > 0.
std::vector<std::optional<double>> shaped_rewards(const ScoredPromptGroup& group, const AlgorithmConfig& algo,
                                                  long max_new_tokens);
// True when the step will skip `group` (dynamic sampling: drop_equal_groups and no signal).
bool group_dropped(const ScoredPromptGroup& group, const AlgorithmConfig& algo, long max_new_tokens);

struct GrpoStepOptions {
  AlgorithmConfig algorithm;
  double temperature = 1.0;  // the rollout's, so log-probs follow the same definition
  size_t micro_batch_tokens = 4096;
  long updates_per_batch = 1;  // optimizer steps per batch (mini-batches, PPO style)
  double grad_clip = 1.0;      // 0 = off
  long max_new_tokens = 256;   // for the soft overlong penalty
  int64_t pad_id = 0;
  // MoE auxiliary-loss-free balancing (spec §4.2): after the step, each routing bias moves by
  // ±bias_update_speed towards balancing the expert loads this step's forward passes saw. 0 = off.
  double bias_update_speed = 0.0;
  // Weight λ of the MTP loss (model/mtp.h) added to the policy loss so the draft head keeps up
  // with the policy; 0 = off (and a model without MTP modules ignores it).
  double mtp_loss_coef = 0.0;
  // Compute precision of the forward passes (learner/precision.h); master weights stay FP32.
  Precision precision = Precision::kFp32;
};

struct GrpoStepStats {
  // reward/mean, reward/std, response_length/{mean,max,truncated_fraction}, loss, kl,
  // clip_fraction, entropy, is/{mean,max,min,truncated_fraction}, grad_norm,
  // moe/load_max_over_mean, mtp/loss, ... Token statistics (kl, clip_fraction) are over all
  // updates; entropy and is/* over the counted tokens of the first update, where the learner's
  // policy is still the one that sampled (its log-probs are the "recomputed old" ones).
  std::map<std::string, double> metrics;
  long groups_used = 0;
  long groups_dropped = 0;   // no signal (dynamic sampling)
  long updates_skipped = 0;  // non-finite loss or gradient
};

// Trains `policy` in place with `optimizer`. `reference` is used only when kl_coef > 0.
GrpoStepStats grpo_step(model::CausalLM& policy, torch::optim::Optimizer& optimizer,
                        const std::vector<ScoredPromptGroup>& groups, const GrpoStepOptions& options,
                        model::CausalLM* reference = nullptr);

}  // namespace grpo::learner
