// The reward scorer's options as a recipe's `reward` section and train.seed set them: one
// definition for `grpo train`, `grpo run` and `grpo eval`, so all three score alike.
#pragma once

#include "learner/recipe.h"
#include "rewards/scorer.h"

namespace grpo::actor {

rewards::ScorerOptions scorer_options_from_recipe(const learner::Recipe& recipe);

}  // namespace grpo::actor
