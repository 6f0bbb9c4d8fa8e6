#include <gtest/gtest.h>

#include "../model/model_test_util.h"
#include "learner/reference_model.h"

using namespace grpo;
using namespace grpo::learner;

namespace {

bool same_weights(model::CausalLM& a, model::CausalLM& b) {
  auto pb = b->named_parameters();
  for (auto& p : a->named_parameters())
    if (!torch::equal(p.value(), pb[p.key()])) return false;
  auto bb = b->named_buffers();
  for (auto& x : a->named_buffers())
    if (!torch::equal(x.value(), bb[x.key()])) return false;
  return true;
}

}  // namespace

TEST(ReferenceModel, CloneIsAFrozenCopyThatRefreshFollows) {
  auto policy = model::mtest::random_model(model::mtest::micro_config(), 5, torch::kFloat32);
  auto ref = clone_model(policy);
  EXPECT_TRUE(same_weights(policy, ref));
  for (auto& p : ref->parameters()) EXPECT_FALSE(p.requires_grad());
  {
    torch::NoGradGuard no_grad;
    policy->lm_head->weight.add_(0.1);
    policy->moe_layers()[0]->gate->e_score_correction_bias.add_(0.01);  // buffers follow too
  }
  EXPECT_FALSE(same_weights(policy, ref));
  copy_weights(policy, ref);
  EXPECT_TRUE(same_weights(policy, ref));
}

TEST(ReferenceModel, RefreshSchedule) {
  EXPECT_FALSE(reference_refresh_due(3, 0));  // 0 = never
  EXPECT_TRUE(reference_refresh_due(4, 2));
  EXPECT_FALSE(reference_refresh_due(5, 2));
  EXPECT_TRUE(reference_refresh_due(1, 1));
}
