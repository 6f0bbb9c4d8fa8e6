#include "actor/prompt_sampler.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "learner/trainer_state.h"

namespace grpo::actor {

PromptSampler::PromptSampler(size_t prompts, uint64_t seed, bool shuffle)
    : seed_(seed), shuffle_(shuffle), rng_(seed), order_(prompts) {
  GRPO_CHECK(prompts > 0, "PromptSampler: no prompts to sample from");
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) std::shuffle(order_.begin(), order_.end(), rng_);
  after_[0] = current();
}

void PromptSampler::restore(const DataPosition& position, long step, const std::string& file) {
  if (position.order.size() != order_.size())
    throw file_error(
        file, "order",
        std::to_string(position.order.size()) + " prompts, but data.train has " + std::to_string(order_.size()));
  if (position.cursor > position.order.size())
    throw file_error(
        file, "cursor",
        std::to_string(position.cursor) + " is past the order's " + std::to_string(order_.size()) + " prompts");
  rng_ = learner::rng_from_string(position.rng, file);
  order_ = position.order;
  cursor_ = position.cursor;
  after_.clear();
  after_[step] = current();
}

std::vector<SampledPrompt> PromptSampler::draw(long step, size_t count, long round) {
  std::vector<SampledPrompt> out;
  out.reserve(count);
  while (out.size() < count) {
    if (cursor_ == order_.size()) {
      if (shuffle_) std::shuffle(order_.begin(), order_.end(), rng_);
      cursor_ = 0;
    }
    const size_t position = out.size();
    out.push_back(
        {order_[cursor_++], round == 0 ? step_seed(seed_, step, position) : refill_seed(seed_, step, round, position)});
  }
  after_[step] = current();
  return out;
}

const DataPosition& PromptSampler::position_after(long step) const {
  const auto it = after_.find(step);
  GRPO_CHECK(it != after_.end(), "PromptSampler: no position recorded for step " + std::to_string(step));
  return it->second;
}

void PromptSampler::forget_before(long step) { after_.erase(after_.begin(), after_.lower_bound(step)); }

uint64_t PromptSampler::step_seed(uint64_t seed, long step, size_t position) {
  return seed * 1000003u + static_cast<uint64_t>(step) * 7919u + position;
}

uint64_t PromptSampler::refill_seed(uint64_t seed, long step, long round, size_t position) {
  uint64_t z = seed ^ (static_cast<uint64_t>(step) << 20) ^ (static_cast<uint64_t>(round) << 52) ^ position;
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

DataPosition PromptSampler::current() const { return {learner::rng_to_string(rng_), order_, cursor_}; }

}  // namespace grpo::actor
