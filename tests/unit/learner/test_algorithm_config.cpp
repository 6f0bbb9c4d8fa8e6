#include <gtest/gtest.h>

#include "common/error.h"
#include "learner/algorithm_config.h"

using namespace grpo::learner;
using nlohmann::json;

namespace {
std::string error_of(const json& j) {
  try {
    parse_algorithm_config(j, "recipe.json", 256);
  } catch (const grpo::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(AlgorithmConfig, PresetsSetTheirKnobs) {
  auto dapo = parse_algorithm_config(json{{"preset", "dapo"}}, "r.json", 256);
  EXPECT_EQ(dapo.loss.aggregation, LossAggregation::kTokenMean);
  EXPECT_DOUBLE_EQ(dapo.loss.clip_high, 0.28);
  EXPECT_TRUE(dapo.drop_equal_groups);
  auto dr = parse_algorithm_config(json{{"preset", "dr_grpo"}}, "r.json", 300);
  EXPECT_EQ(dr.advantages.estimator, AdvantageEstimator::kMeanCentered);
  EXPECT_DOUBLE_EQ(dr.loss.aggregation_constant, 300.0);  // the generation budget
  auto gspo = parse_algorithm_config(json{{"preset", "gspo"}}, "r.json", 256);
  EXPECT_EQ(gspo.loss.ratio, RatioLevel::kSequence);
  EXPECT_DOUBLE_EQ(gspo.loss.clip_low, 3e-4);
  auto grpo = parse_algorithm_config(json::object(), "r.json", 256);
  EXPECT_EQ(grpo.preset, "grpo");
  EXPECT_DOUBLE_EQ(grpo.loss.kl_coef, 0.04);
}

TEST(AlgorithmConfig, ExplicitKeysOverrideThePreset) {
  auto c = parse_algorithm_config(
      json{{"preset", "grpo"}, {"kl_coef", 0.0}, {"clip_high", 0.28}, {"loss_agg", "token-mean"}}, "r.json", 256);
  EXPECT_DOUBLE_EQ(c.loss.kl_coef, 0.0);
  EXPECT_DOUBLE_EQ(c.loss.clip_high, 0.28);
  EXPECT_EQ(c.loss.aggregation, LossAggregation::kTokenMean);
  auto round = parse_algorithm_config(to_json(c), "r.json", 256);
  EXPECT_EQ(to_json(round), to_json(c));
}

TEST(AlgorithmConfig, ErrorsNameFileKeyAndAllowedValues) {
  auto e = error_of(json{{"klcoef", 0.1}});
  EXPECT_NE(e.find("recipe.json"), std::string::npos) << e;
  EXPECT_NE(e.find("algorithm.klcoef"), std::string::npos) << e;
  EXPECT_NE(e.find("kl_coef"), std::string::npos) << e;  // the allowed list
  e = error_of(json{{"kl_coef", "0.1"}});
  EXPECT_NE(e.find("expected a number"), std::string::npos) << e;
  e = error_of(json{{"preset", "ppo"}});
  EXPECT_NE(e.find("gspo"), std::string::npos) << e;
  e = error_of(json{{"loss_agg", "mean"}});
  EXPECT_NE(e.find("token-mean"), std::string::npos) << e;
  e = error_of(json{{"clip_low", 1.5}});
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  e = error_of(json{{"drop_equal_groups", 1}});
  EXPECT_NE(e.find("true or false"), std::string::npos) << e;
  EXPECT_NE(error_of(json::array()), "");
}

TEST(AlgorithmConfig, RefillRoundsAreASmallWholeNumber) {
  EXPECT_EQ(parse_algorithm_config(json{{"preset", "dapo"}}, "r.json", 256).refill_rounds, 0);  // opt-in
  auto c = parse_algorithm_config(json{{"preset", "dapo"}, {"refill_rounds", 3}}, "r.json", 256);
  EXPECT_EQ(c.refill_rounds, 3);
  EXPECT_EQ(to_json(c)["refill_rounds"], 3);
  auto e = error_of(json{{"refill_rounds", 2.5}});
  EXPECT_NE(e.find("algorithm.refill_rounds"), std::string::npos) << e;
  EXPECT_NE(e.find("integer"), std::string::npos) << e;
  e = error_of(json{{"refill_rounds", 64}});  // the runtime's refill batch ids hold 63 rounds
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  EXPECT_NE(error_of(json{{"refill_rounds", -1}}), "");
}
