#include "actor/prompt_ledger.h"

#include "common/error.h"

namespace grpo::actor {

void PromptLedger::add_step(long step, size_t count) {
  GRPO_CHECK(!counts_.count(step), "prompt ledger: step " + std::to_string(step) + " added twice");
  GRPO_CHECK(count < (size_t{1} << kSlotPositionBits), "prompt ledger: too many prompts in one step");
  counts_[step].prompts = static_cast<long>(count);
  for (size_t k = 0; k < count; ++k) slots_[slot_id(step, k)] = Slot{};
}

std::vector<uint64_t> PromptLedger::queued(size_t limit) const {
  std::vector<uint64_t> out;
  for (const auto& [id, s] : slots_) {  // map order = lowest step, then position, first
    if (out.size() >= limit) break;
    if (s.state == State::kQueued) out.push_back(id);
  }
  return out;
}

std::vector<uint64_t> PromptLedger::generated(size_t limit) const {
  std::vector<uint64_t> out;
  for (const auto& [id, s] : slots_) {
    if (out.size() >= limit) break;
    if (s.state == State::kGenerated) out.push_back(id);
  }
  return out;
}

void PromptLedger::mark_rolling(uint64_t slot, const std::string& worker) {
  auto& s = slots_.at(slot);
  GRPO_CHECK(s.state == State::kQueued, "prompt ledger: dispatching a slot that is not queued");
  s.state = State::kRolling;
  s.worker = worker;
  held_[worker].insert(slot);
  counts_[slot_step(slot)].dispatched++;
}

void PromptLedger::mark_scoring(uint64_t slot, const std::string& worker) {
  auto& s = slots_.at(slot);
  GRPO_CHECK(s.state == State::kGenerated, "prompt ledger: scoring a slot that is not generated");
  s.state = State::kScoring;
  s.worker = worker;
  held_[worker].insert(slot);
}

void PromptLedger::requeue(uint64_t slot, Slot& s) {
  if (!s.worker.empty()) held_[s.worker].erase(slot);
  s.state = State::kQueued;
  s.worker.clear();
  s.version_start = 0;
}

PromptLedger::Verdict PromptLedger::on_generated(uint64_t slot, uint64_t version_start, uint64_t learner_version) {
  auto it = slots_.find(slot);
  if (it == slots_.end()) return counts_.count(slot_step(slot)) ? Verdict::kDuplicate : Verdict::kUnknown;
  auto& s = it->second;
  auto& c = counts_[slot_step(slot)];
  if (s.state != State::kRolling) {
    c.duplicates++;
    return Verdict::kDuplicate;
  }
  if (!fresh_enough(learner_version, version_start, max_staleness_)) {
    c.stale++;
    requeue(slot, s);
    return Verdict::kStale;
  }
  held_[s.worker].erase(slot);
  s.worker.clear();
  s.state = State::kGenerated;
  s.version_start = version_start;
  c.generated++;
  return Verdict::kAccepted;
}

PromptLedger::Verdict PromptLedger::on_scored(uint64_t slot) {
  auto it = slots_.find(slot);
  if (it == slots_.end()) return counts_.count(slot_step(slot)) ? Verdict::kDuplicate : Verdict::kUnknown;
  auto& s = it->second;
  auto& c = counts_[slot_step(slot)];
  if (s.state != State::kScoring) {
    c.duplicates++;
    return Verdict::kDuplicate;
  }
  held_[s.worker].erase(slot);
  s.worker.clear();
  s.state = State::kScored;
  c.scored++;
  return Verdict::kAccepted;
}

size_t PromptLedger::worker_lost(const std::string& worker) {
  auto it = held_.find(worker);
  if (it == held_.end()) return 0;
  const std::set<uint64_t> slots = it->second;
  held_.erase(it);
  for (uint64_t id : slots) {
    auto& s = slots_.at(id);
    s.worker.clear();
    // A lost rollout loses the generation; a lost reward worker loses only the scoring.
    s.state = s.state == State::kScoring ? State::kGenerated : State::kQueued;
    counts_[slot_step(id)].reassigned++;
  }
  return slots.size();
}

std::vector<uint64_t> PromptLedger::refuse_stale(long step, uint64_t learner_version) {
  std::vector<uint64_t> refused;
  for (auto it = slots_.lower_bound(slot_id(step, 0)); it != slots_.end() && slot_step(it->first) == step; ++it) {
    auto& s = it->second;
    if (s.state == State::kScored && !fresh_enough(learner_version, s.version_start, max_staleness_)) {
      counts_[step].stale++;
      counts_[step].scored--;
      counts_[step].generated--;
      requeue(it->first, s);
      refused.push_back(it->first);
    }
  }
  return refused;
}

bool PromptLedger::step_complete(long step) const {
  if (!counts_.count(step)) return false;
  for (auto it = slots_.lower_bound(slot_id(step, 0)); it != slots_.end() && slot_step(it->first) == step; ++it)
    if (it->second.state != State::kScored) return false;
  return true;
}

StepCounts PromptLedger::finish_step(long step) {
  slots_.erase(slots_.lower_bound(slot_id(step, 0)), slots_.lower_bound(slot_id(step + 1, 0)));
  StepCounts c = counts_.at(step);
  // The counts stay, so a late result for this step is still recognised as a duplicate.
  return c;
}

size_t PromptLedger::in_flight(const std::string& worker) const {
  auto it = held_.find(worker);
  return it == held_.end() ? 0 : it->second.size();
}

PromptLedger::State PromptLedger::state(uint64_t slot) const { return slots_.at(slot).state; }

const StepCounts& PromptLedger::counts(long step) const { return counts_.at(step); }

}  // namespace grpo::actor
