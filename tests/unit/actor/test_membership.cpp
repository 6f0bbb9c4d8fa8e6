// The learner driver's membership verdicts (actor/membership.h): who may join, and when a member
// is declared lost.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "actor/membership.h"

namespace grpo::actor {
namespace {

using namespace std::chrono_literals;

HelloFacts good_hello() {
  HelloFacts h;
  h.token = h.expected_token = "s3cret";
  h.role = "rollout";
  h.rank = 1;
  h.incarnation = 0;
  h.peer = worker_identity("rollout", 1, 0);
  h.rollout_workers = 2;
  h.reward_workers = 1;
  return h;
}

TEST(Membership, AHelloWithTheTokenRoleRankAndIdentityOfThisRunIsAccepted) {
  EXPECT_EQ(hello_refusal(good_hello()), "");
  EXPECT_EQ(worker_identity("reward", 3, 2), "reward-3.2");
}

TEST(Membership, EachWrongFieldIsRefusedWithItsReason) {
  HelloFacts h = good_hello();
  h.token = "guess";
  EXPECT_EQ(hello_refusal(h), "wrong run token");
  h = good_hello();
  h.token = h.expected_token = "";  // an empty token matches only an empty expectation
  EXPECT_EQ(hello_refusal(h), "");
  h = good_hello();
  h.rank = 2;
  h.peer = worker_identity("rollout", 2, 0);
  EXPECT_EQ(hello_refusal(h), "no rollout worker of rank 2 in this run");
  h = good_hello();
  h.role = "critic";
  EXPECT_EQ(hello_refusal(h), "no critic worker of rank 1 in this run");
  h = good_hello();
  h.peer = worker_identity("rollout", 0, 0);  // claims rank 1 on rank 0's identity
  EXPECT_EQ(hello_refusal(h), "identity does not match role and rank");
}

TEST(Membership, OnlyIncarnationsThisRunStartedMayJoin) {
  HelloFacts h = good_hello();
  h.incarnation = 7;
  h.peer = worker_identity("rollout", 1, 7);
  EXPECT_EQ(hello_refusal(h), "no incarnation 7 of rollout worker 1 was started by this run");  // threads, ranks
  h.processes_mode = true;
  EXPECT_NE(hello_refusal(h), "");  // not spawned
  h.spawned_by_us = true;
  EXPECT_EQ(hello_refusal(h), "");  // a restart this run spawned
}

TEST(Membership, AMemberIsLostWhenItExitsOrFallsSilentPastItsTimeout) {
  LivenessFacts f;
  f.ready = true;
  f.worker_timeout = 2000ms;
  f.startup_timeout = 60000ms;
  f.silent_for = 1999ms;
  EXPECT_FALSE(liveness_verdict(f).has_value());
  f.silent_for = 2001ms;
  EXPECT_EQ(liveness_verdict(f).value_or(""), "no heartbeat for 2000 ms");
  f.ready = false;  // still building its model: the startup timeout applies
  EXPECT_FALSE(liveness_verdict(f).has_value());
  f.silent_for = 60001ms;
  EXPECT_EQ(liveness_verdict(f).value_or(""), "no heartbeat for 60000 ms");
  f.silent_for = 0ms;
  f.wait_status = 9;  // waitpid status of a SIGKILL
  EXPECT_EQ(liveness_verdict(f).value_or(""), "killed by signal 9");
  f.wait_status = 3 << 8;  // exit(3)
  EXPECT_EQ(liveness_verdict(f).value_or(""), "exited with status 3");
}

TEST(Membership, TimeoutsScaleWithTheHeartbeatTimeoutAboveAFloor) {
  EXPECT_EQ(startup_timeout(2000ms), 60000ms);
  EXPECT_EQ(startup_timeout(20000ms), 120000ms);
  EXPECT_EQ(role_missing_limit(2000ms), 30000ms);
  EXPECT_EQ(role_missing_limit(20000ms), 60000ms);
}

}  // namespace
}  // namespace grpo::actor
