#include "rewards/reward_sample.h"

#include "common/error.h"

namespace grpo::rewards {

nlohmann::json reward_sample(nlohmann::json row, std::string completion, std::string finish_reason) {
  GRPO_CHECK(row.is_object(), "reward_sample: the dataset row must be a JSON object");
  row.erase("sampling_seed");
  row["completion"] = std::move(completion);
  row["finish_reason"] = std::move(finish_reason);
  return row;
}

}  // namespace grpo::rewards
