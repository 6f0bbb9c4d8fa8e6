// The data order of a run: which dataset rows each step samples, with which sampling seeds, and
// where the order stands after each step's draws. A resumed run restores the position a
// checkpoint recorded and then draws exactly what the uninterrupted run drew, so resume
// bit-exactness rests on this class.
//
// Order: the rows in dataset order, shuffled per epoch with a std::mt19937_64 seeded by
// train.seed (data.shuffle), drawn from a cursor; when the cursor reaches the end the next epoch
// is shuffled again. Sampling seeds: seed * 1000003 + step * 7919 + position for a step's own
// prompts, a splitmix64 mix of (seed, step, round, position) for refill round `round` > 0 — they
// repeat across runs and resumes and collide with no step's own seeds in practice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace grpo::actor {

struct SampledPrompt {
  size_t index = 0;            // the dataset row
  uint64_t sampling_seed = 0;  // the seed its G completions are sampled with
};

// Where the order stands: what a checkpoint stores (learner::TrainerState's data fields).
struct DataPosition {
  std::string rng;  // the shuffling RNG (learner::rng_to_string)
  std::vector<size_t> order;
  size_t cursor = 0;
};

class PromptSampler {
 public:
  // A new run over `prompts` rows: the first epoch's order.
  PromptSampler(size_t prompts, uint64_t seed, bool shuffle);

  // A resumed run: the position recorded after `step` (throws grpo::Error naming `file` when it
  // does not fit the dataset).
  void restore(const DataPosition& position, long step, const std::string& file);

  // The next `count` prompts for `step` (`round` 0: the step's own prompts; > 0: refill round).
  std::vector<SampledPrompt> draw(long step, size_t count, long round = 0);

  // The position after the latest draw for `step` (or the starting position, before any draw
  // for it): what the checkpoint of `step` records. In asynchronous mode later steps are drawn
  // already; a resumed run draws them again.
  const DataPosition& position_after(long step) const;
  // Positions of steps before `step` are no longer needed (their checkpoints are written).
  void forget_before(long step);

  static uint64_t step_seed(uint64_t seed, long step, size_t position);
  static uint64_t refill_seed(uint64_t seed, long step, long round, size_t position);

 private:
  DataPosition current() const;

  uint64_t seed_;
  bool shuffle_;
  std::mt19937_64 rng_;
  std::vector<size_t> order_;
  size_t cursor_ = 0;
  std::map<long, DataPosition> after_;  // step -> position after its latest draw
};

}  // namespace grpo::actor
