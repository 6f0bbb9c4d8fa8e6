#include "rewards/reward_actor.h"

namespace grpo::rewards {

using nlohmann::json;

json sample_for(const actor::TrajectoryGroup& group, size_t i) {
  const actor::Completion& c = group.completions.at(i);
  json sample = group.prompt.row.is_object() ? group.prompt.row : json::object();
  if (!sample.contains("prompt")) sample["prompt"] = "";
  sample["completion"] = c.text;
  sample["finish_reason"] = c.finish_reason;
  return sample;
}

std::vector<actor::ScoredGroup> score_groups(Scorer& scorer, std::vector<actor::TrajectoryGroup> groups) {
  std::vector<SampleGroup> samples;
  samples.reserve(groups.size());
  for (const auto& g : groups) {
    SampleGroup sg;
    for (size_t i = 0; i < g.completions.size(); ++i) sg.push_back(sample_for(g, i));
    samples.push_back(std::move(sg));
  }
  ScoredBatch batch = scorer.score(samples);
  std::vector<actor::ScoredGroup> out;
  out.reserve(groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    actor::ScoredGroup scored;
    scored.reward_script_sha256 = batch.script_sha256;
    for (const SampleResult& r : batch.groups[gi]) {
      actor::SampleScore s;
      if (r.applicable()) s.reward = r.score;  // failed samples carry the fallback score
      s.metrics = r.metrics;
      if (r.failed()) s.failure = r.error.empty() ? "failed" : r.error;
      scored.scores.push_back(std::move(s));
    }
    scored.group = std::move(groups[gi]);
    out.push_back(std::move(scored));
  }
  return out;
}

RewardActorStats run_reward_actor(Scorer& scorer, actor::Receiver& in, actor::Sender& out,
                                  const std::atomic<bool>& stop, std::chrono::milliseconds poll) {
  RewardActorStats stats;
  bool shutting_down = false;
  while (!stop.load() && !shutting_down) {
    auto first = in.receive(poll);
    if (!first) continue;
    // Take whatever else is already queued so the pool scores it in one pass.
    std::vector<actor::TrajectoryGroup> batch;
    std::optional<actor::Message> next = std::move(first);
    while (next) {
      if (auto* g = std::get_if<actor::TrajectoryGroup>(&*next)) {
        batch.push_back(std::move(*g));
      } else if (std::holds_alternative<actor::Shutdown>(*next)) {
        shutting_down = true;
        break;
      } else {
        ++stats.dropped_messages;  // not for this actor (e.g. a stray heartbeat)
      }
      if (batch.size() >= 256) break;
      next = in.receive(std::chrono::milliseconds(0));
    }
    if (!batch.empty()) {
      for (auto& scored : score_groups(scorer, std::move(batch))) {
        ++stats.groups;
        stats.samples += static_cast<long long>(scored.scores.size());
        for (const auto& s : scored.scores) stats.failures += !s.failure.empty();
        // Back-pressure: wait for the learner rather than drop a scored group.
        while (!out.send(scored, std::chrono::milliseconds(1000)))
          if (stop.load()) return stats;
      }
    }
  }
  stats.dropped_messages += static_cast<long long>(in.dropped());
  if (shutting_down) out.send(actor::Shutdown{"reward actor: upstream finished"}, std::chrono::milliseconds(1000));
  return stats;
}

}  // namespace grpo::rewards
