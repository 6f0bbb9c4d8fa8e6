// The reward actor: trajectory groups in (ZeroMQ), scored groups out, every score stamped with
// the SHA-256 of the script that produced it. Scoring is the Scorer's pool of sandboxed Lua
// workers; a bad sample or script failure is a recorded failure, never the end of the actor.
#pragma once

#include <atomic>
#include <chrono>

#include "actor/channel.h"
#include "actor/messages.h"
#include "rewards/scorer.h"

namespace grpo::rewards {

// The sample a reward script sees for completion `i` of `group`: the dataset row's fields,
// then prompt, completion (text), finish_reason (the scorer adds `index`).
nlohmann::json sample_for(const actor::TrajectoryGroup& group, size_t i);

// Scores whole groups in one call to the scorer (one pass over its worker pool).
std::vector<actor::ScoredGroup> score_groups(Scorer& scorer, std::vector<actor::TrajectoryGroup> groups);

struct RewardActorStats {
  long long groups = 0;
  long long samples = 0;
  long long failures = 0;
  long long dropped_messages = 0;  // malformed or unexpected messages received
};

// Receives TrajectoryGroup messages on `in`, scores them, sends ScoredGroup messages on `out`,
// until a Shutdown message arrives or `stop` is set. Groups that arrive together are scored as
// one batch. A Shutdown is forwarded on `out` so the next stage can stop too.
RewardActorStats run_reward_actor(Scorer& scorer, actor::Receiver& in, actor::Sender& out,
                                  const std::atomic<bool>& stop,
                                  std::chrono::milliseconds poll = std::chrono::milliseconds(50));

}  // namespace grpo::rewards
