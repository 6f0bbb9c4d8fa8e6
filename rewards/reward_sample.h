// The sample a reward script reads (README "Reward scripts"): the dataset row's fields, the
// completion's text and its finish reason. The one builder of it, so `grpo train`'s reward actors,
// `grpo eval` and `grpo reward` hand a script the same table for the same completion.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace grpo::rewards {

// `row` must be a JSON object (the dataset row). Runtime bookkeeping the learner adds to a row
// (`sampling_seed`) is left out; `completion` and `finish_reason` ("stop", "length", ...) are set.
nlohmann::json reward_sample(nlohmann::json row, std::string completion, std::string finish_reason);

}  // namespace grpo::rewards
