#include "actor/recipe_scorer.h"

namespace grpo::actor {

rewards::ScorerOptions scorer_options_from_recipe(const learner::Recipe& recipe) {
  const auto& v = recipe.values;
  rewards::ScorerOptions o;
  o.workers = static_cast<int>(v["reward"]["workers"].get<long>());
  o.script.fallback = v["reward"]["fallback"].get<double>();
  o.script.limits.timeout_ms = static_cast<int>(v["reward"]["timeout_ms"].get<long>());
  o.script.limits.memory_bytes = static_cast<size_t>(v["reward"]["memory_mb"].get<long>()) << 20;
  o.script.seed = v["train"]["seed"].get<long long>();  // math.random is reseeded from it per sample
  return o;
}

}  // namespace grpo::actor
