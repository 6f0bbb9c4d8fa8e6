// The learner's account of every prompt of every step, from dispatch until its scored group is
// handed to the trainer (runtime.md §3.4, §6). No sockets and no threads here: the dispatcher
// (actor/learner_driver.cpp) tells the ledger what happened and asks it what to do next, so the
// rules below are unit-tested on their own.
//
// A slot is one prompt position of one step. It moves
//     queued ─► rolling(worker) ─► generated ─► scoring(worker) ─► scored ─► (taken by the trainer)
// and goes back when something fails:
//   - the rollout worker holding it is lost            → queued again   (prompts/reassigned)
//   - the reward worker holding it is lost             → generated again (prompts/reassigned)
//   - its group is too old for the learner's version   → queued again   (prompts/stale)
// A result for a slot that is not in the state that expects it (a slow-but-alive worker answering
// after its work was handed to another) is a duplicate and is dropped (prompts/duplicates).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace grpo::actor {

// Slot ids travel as Prompt::prompt_id: the step in the high bits, the position below.
constexpr int kSlotPositionBits = 21;  // recipe: prompts_per_step ≤ 2^20
inline uint64_t slot_id(long step, size_t position) {
  return (static_cast<uint64_t>(step) << kSlotPositionBits) | static_cast<uint64_t>(position);
}
inline long slot_step(uint64_t slot) { return static_cast<long>(slot >> kSlotPositionBits); }
inline size_t slot_position(uint64_t slot) { return static_cast<size_t>(slot & ((1u << kSlotPositionBits) - 1)); }

// Staleness rule (runtime.md §6): a group sampled from version `version_start` may train the
// policy at `learner_version` only if learner_version − version_start ≤ max_staleness.
inline bool fresh_enough(uint64_t learner_version, uint64_t version_start, uint64_t max_staleness) {
  return learner_version <= version_start || learner_version - version_start <= max_staleness;
}

// Per-step counts, logged as metrics.
struct StepCounts {
  long prompts = 0;     // slots in the step
  long dispatched = 0;  // sends to rollout workers (first sends + re-dispatches)
  long generated = 0;   // trajectory groups accepted
  long scored = 0;      // scored groups accepted
  long reassigned = 0;  // slots handed to another worker after theirs was lost
  long duplicates = 0;  // late results for slots already past that stage, dropped
  long stale = 0;       // groups refused as too old, re-dispatched
};

class PromptLedger {
 public:
  enum class State { kQueued, kRolling, kGenerated, kScoring, kScored };
  enum class Verdict { kAccepted, kDuplicate, kUnknown, kStale };

  explicit PromptLedger(uint64_t max_staleness) : max_staleness_(max_staleness) {}

  // Adds the `count` slots of `step`, queued. A step is added once.
  void add_step(long step, size_t count);
  // Queued slots, lowest step first, at most `limit`.
  std::vector<uint64_t> queued(size_t limit) const;
  // Generated slots waiting for a reward worker, lowest step first, at most `limit`.
  std::vector<uint64_t> generated(size_t limit) const;

  void mark_rolling(uint64_t slot, const std::string& worker);
  void mark_scoring(uint64_t slot, const std::string& worker);

  // A trajectory group came back. Accepted only from the rolling state; refused (and queued
  // again) when already too old for `learner_version`.
  Verdict on_generated(uint64_t slot, uint64_t version_start, uint64_t learner_version);
  // A scored group came back. Accepted only from the scoring state.
  Verdict on_scored(uint64_t slot);

  // A worker is gone: its slots go back one stage. Returns how many.
  size_t worker_lost(const std::string& worker);

  // Before training `step` at `learner_version`: scored slots of the step that are now too old
  // go back to the queue. Returns the slots refused.
  std::vector<uint64_t> refuse_stale(long step, uint64_t learner_version);
  bool step_complete(long step) const;
  // Removes the step's slots (after the trainer took them) and returns its counts.
  StepCounts finish_step(long step);

  size_t in_flight(const std::string& worker) const;
  State state(uint64_t slot) const;
  const StepCounts& counts(long step) const;

 private:
  struct Slot {
    State state = State::kQueued;
    std::string worker;
    uint64_t version_start = 0;
  };
  void requeue(uint64_t slot, Slot& s);

  uint64_t max_staleness_;
  std::map<uint64_t, Slot> slots_;
  std::map<long, StepCounts> counts_;
  std::map<std::string, std::set<uint64_t>> held_;  // worker → slots it holds
};

}  // namespace grpo::actor
