// Hand-computed cases (STYLE.md: RL math is tested against exact values, not behaviour).
#include <gtest/gtest.h>

#include "learner/advantages.h"

using namespace grpo::learner;
using R = std::vector<std::optional<double>>;

TEST(Advantages, GroupNormUsesUnbiasedStd) {
  // rewards {1,0,0,1}: mean 0.5, unbiased std sqrt(1/3) = 0.5773503 → ±0.5/0.5773513 (eps 1e-6)
  auto a = group_advantages(R{1, 0, 0, 1}, {AdvantageEstimator::kGroupNorm, 1e-6});
  ASSERT_EQ(a.size(), 4u);
  EXPECT_NEAR(a[0], 0.8660239, 1e-6);
  EXPECT_NEAR(a[1], -0.8660239, 1e-6);
  EXPECT_NEAR(a[3], 0.8660239, 1e-6);
}

TEST(Advantages, MeanCenteredHasNoStd) {
  auto a = group_advantages(R{3, 1, 2}, {AdvantageEstimator::kMeanCentered});
  EXPECT_DOUBLE_EQ(a[0], 1.0);
  EXPECT_DOUBLE_EQ(a[1], -1.0);
  EXPECT_DOUBLE_EQ(a[2], 0.0);
}

TEST(Advantages, LeaveOneOutBaselineExcludesSelf) {
  // r_i − mean of the others: 1 − (0+0+1)/3 = 2/3, 0 − 2/3 = −2/3
  auto a = group_advantages(R{1, 0, 0, 1}, {AdvantageEstimator::kLeaveOneOut});
  EXPECT_NEAR(a[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(a[1], -2.0 / 3.0, 1e-12);
}

TEST(Advantages, NotApplicableSamplesAreLeftOutOfTheBaseline) {
  // {1, nil, 0}: mean over the scored pair 0.5, unbiased std sqrt(0.5) → ±0.5/0.7071078
  auto a = group_advantages(R{1, std::nullopt, 0}, {AdvantageEstimator::kGroupNorm, 1e-6});
  EXPECT_NEAR(a[0], 0.7071058, 1e-6);
  EXPECT_DOUBLE_EQ(a[1], 0.0);
  EXPECT_NEAR(a[2], -0.7071058, 1e-6);
}

TEST(Advantages, DegenerateGroupsGiveZero) {
  for (auto est :
       {AdvantageEstimator::kGroupNorm, AdvantageEstimator::kMeanCentered, AdvantageEstimator::kLeaveOneOut}) {
    for (double x : group_advantages(R{0.5, 0.5, 0.5}, {est})) EXPECT_DOUBLE_EQ(x, 0.0);
    for (double x : group_advantages(R{1.0, std::nullopt}, {est})) EXPECT_DOUBLE_EQ(x, 0.0);
  }
}

TEST(Advantages, NoSignalDetection) {
  EXPECT_TRUE(group_has_no_signal(R{1, 1, std::nullopt}));
  EXPECT_TRUE(group_has_no_signal(R{std::nullopt}));
  EXPECT_TRUE(group_has_no_signal(R{}));
  EXPECT_FALSE(group_has_no_signal(R{1, 0}));
  EXPECT_FALSE(group_has_no_signal(R{std::nullopt, 0.25, 0.5}));
}

TEST(Advantages, SoftOverlongPenaltyMatchesDapo) {
  // L_max = 20, L_cache = 4: free up to 16, linear to −1 at 20, −1 beyond.
  EXPECT_DOUBLE_EQ(soft_overlong_penalty(10, 20, 4), 0.0);
  EXPECT_DOUBLE_EQ(soft_overlong_penalty(16, 20, 4), 0.0);
  EXPECT_DOUBLE_EQ(soft_overlong_penalty(18, 20, 4), -0.5);
  EXPECT_DOUBLE_EQ(soft_overlong_penalty(20, 20, 4), -1.0);
  EXPECT_DOUBLE_EQ(soft_overlong_penalty(25, 20, 4), -1.0);
}

TEST(Advantages, NamesRoundTripAndUnknownNamesListAllowed) {
  for (auto est : {AdvantageEstimator::kGroupNorm, AdvantageEstimator::kMeanCentered, AdvantageEstimator::kLeaveOneOut})
    EXPECT_EQ(parse_advantage_estimator(to_string(est)), est);
  try {
    parse_advantage_estimator("ppo");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("rloo"), std::string::npos);
  }
}
