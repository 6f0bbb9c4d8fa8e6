// Weight versions: completions record the version of the weights that sampled them, and a
// version recorded between generate calls (weights changed in place) applies to the next call.
#include <gtest/gtest.h>

#include "rollout_test_util.h"

using namespace grpo;
using namespace grpo::rollout;
using namespace grpo::rollout::rtest;

TEST(WeightVersions, CompletionsCarryTheGeneratorsVersion) {
  for (const int64_t speculative : {0, 1}) {
    auto lm = micro(53);
    GeneratorOptions o;
    o.speculative = speculative;
    o.weight_version = 4;
    Generator gen(lm, o);
    EXPECT_TRUE(gen.generate({}).empty());  // an empty call is fine
    auto r = gen.generate({request({1, 2, 3}, 2, 5, 0.0)});
    ASSERT_TRUE(r[0].error.empty()) << r[0].error;
    for (const auto& c : r[0].completions) {
      EXPECT_EQ(c.version_start, 4u);
      EXPECT_EQ(c.version_end, 4u);
      EXPECT_EQ(c.weight_version, 4u);
    }
    gen.set_version(7);
    r = gen.generate({request({1, 2, 3}, 1, 5, 0.0)});
    EXPECT_EQ(r[0].completions[0].version_start, 7u);
    EXPECT_EQ(gen.version(), 7u);
  }
}
