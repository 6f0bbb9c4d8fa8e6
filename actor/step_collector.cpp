#include "actor/step_collector.h"

#include <algorithm>
#include <cstdio>

namespace grpo::actor {

long refill_batch_id(long step, long round) { return (1L << 40) + (step << 6) + round; }

namespace {

// The write-ahead-log form of a scored group: batch_id = the step, prompt_id = the dataset row;
// the row carries the sampling seed, each completion the weight version that sampled it, and the
// group the reward script's hash.
ScoredGroup to_logged_group(ScoredGroup group, long step, size_t prompt_index) {
  group.group.batch_id = static_cast<uint64_t>(step);
  group.group.prompt.prompt_id = prompt_index;
  return group;
}

}  // namespace

CollectedStep collect_step(long step, const StepSource& source, const CollectOptions& options,
                           TrajectoryLog& trajectories) {
  CollectedStep out;
  std::map<std::string, std::pair<double, double>> reward_metrics;  // sum, count
  double failures = 0;
  // Takes one batch of scored groups into the step, logging each to the write-ahead log first.
  auto take = [&](StepRollouts& batch) {
    for (size_t gi = 0; gi < batch.groups.size(); ++gi) {
      auto& sg = batch.groups[gi];
      const size_t index = batch.prompt_indices[gi];
      if (sg.group.completions.empty()) {
        std::fprintf(stderr, "grpo train: prompt skipped: %s\n",
                     sg.group.prompt.row.value("generation_error", "no completions").c_str());
        continue;
      }
      learner::ScoredPromptGroup g;
      g.prompt.assign(sg.group.prompt.tokens.begin(), sg.group.prompt.tokens.end());
      for (size_t i = 0; i < sg.group.completions.size(); ++i) {
        const auto& c = sg.group.completions[i];
        const auto& r = sg.scores.at(i);
        failures += !r.failure.empty();
        for (const auto& [k, x] : r.metrics) {
          reward_metrics[k].first += x;
          reward_metrics[k].second += 1;
        }
        out.rollout_tokens += static_cast<double>(c.tokens.size());
        g.completions.push_back({std::vector<int64_t>(c.tokens.begin(), c.tokens.end()), c.logprobs, r.reward,
                                 c.finish_reason == "length"});
      }
      out.groups.push_back(std::move(g));
      // Logged before it is trained on (DESIGN.md: nothing written is lost).
      trajectories.append(to_logged_group(std::move(sg), step, index));
    }
  };
  StepRollouts first = source.wait(step);
  std::map<std::string, double> counts = first.counts;
  take(first);
  const auto& algo = options.algorithm;
  long refill_rounds = 0, refilled = 0;
  for (long round = 1; round <= algo.refill_rounds; ++round) {
    size_t with_signal = 0;
    for (const auto& g : out.groups) with_signal += !learner::group_dropped(g, algo, options.max_new_tokens);
    if (with_signal >= options.step_prompts) break;
    const size_t need = options.step_prompts - with_signal;
    const long batch_id = refill_batch_id(step, round);
    source.submit(batch_id, source.draw(step, need, round));
    StepRollouts more = source.wait(batch_id);
    for (const auto& [k, x] : more.counts) counts[k] += x;
    take(more);
    refill_rounds = round;
    refilled += static_cast<long>(need);
  }
  out.metrics = counts;
  for (const auto& [k, x] : first.gauges) out.metrics[k] = x;
  if (algo.refill_rounds > 0) {
    out.metrics["refill/rounds"] = static_cast<double>(refill_rounds);
    out.metrics["refill/prompts"] = static_cast<double>(refilled);
  }
  out.metrics["reward/failures"] = failures;
  for (const auto& [k, sc] : reward_metrics) out.metrics["reward/" + k] = sc.first / std::max(1.0, sc.second);
  return out;
}

}  // namespace grpo::actor
