#include <gtest/gtest.h>

#include "learner/lr_schedule.h"

using grpo::learner::learning_rate;
using grpo::learner::LrSchedule;

TEST(LrSchedule, WarmupThenConstant) {
  LrSchedule s{1e-3, 4, "constant", 100, 0.1};
  EXPECT_DOUBLE_EQ(learning_rate(s, 0), 0.25e-3);
  EXPECT_DOUBLE_EQ(learning_rate(s, 3), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(s, 50), 1e-3);
}

TEST(LrSchedule, CosineHalfwayAndFloor) {
  LrSchedule s{1e-3, 0, "cosine", 100, 0.1};
  EXPECT_DOUBLE_EQ(learning_rate(s, 0), 1e-3);
  EXPECT_NEAR(learning_rate(s, 50), 0.55e-3, 1e-15);  // floor + (peak − floor)·½ = 1e-4 + 4.5e-4
  EXPECT_NEAR(learning_rate(s, 100), 1e-4, 1e-15);
  EXPECT_NEAR(learning_rate(s, 500), 1e-4, 1e-15);  // stays at the floor past the end
}

TEST(LrSchedule, CosineStartsAfterWarmup) {
  LrSchedule s{2.0, 10, "cosine", 110, 0.0};
  EXPECT_DOUBLE_EQ(learning_rate(s, 9), 2.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, 10), 2.0);
  EXPECT_NEAR(learning_rate(s, 60), 1.0, 1e-12);
  EXPECT_THROW(learning_rate(LrSchedule{1, 0, "linear", 10, 0}, 1), std::exception);
}
