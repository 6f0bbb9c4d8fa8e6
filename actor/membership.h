// Who may join a run and when a member is gone: the learner driver's membership verdicts as
// plain functions of what it knows, so each rule is tested without sockets or processes.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace grpo::actor {

// What a hello says and what the run expects of it.
struct HelloFacts {
  std::string token;  // the hello's run token
  std::string role;   // "rollout" | "reward" (anything else is refused)
  int rank = -1;
  int incarnation = 0;
  std::string peer;  // the socket identity it connected with
  std::string expected_token;
  int rollout_workers = 0, reward_workers = 0;
  // Process mode: the incarnations this run spawned (the driver's worker table holds the peer).
  // Threads and launcher ranks: only incarnation 0 (they are never restarted by us).
  bool processes_mode = false;
  bool spawned_by_us = false;
};

// Empty when the hello is accepted; otherwise why it is refused (sent back in a Shutdown).
std::string hello_refusal(const HelloFacts& hello);

// The socket identity of a worker: role, rank and incarnation.
std::string worker_identity(const std::string& role, int rank, int incarnation);

// A member's liveness as the dispatcher sees it.
struct LivenessFacts {
  bool ready = false;  // has done its first piece of work (a rollout worker: loaded weights)
  std::chrono::steady_clock::duration silent_for{};  // since the last message from it
  std::chrono::milliseconds worker_timeout{10000};   // runtime.heartbeat_timeout_s
  std::chrono::milliseconds startup_timeout{60000};  // before `ready`: building a model takes time
  std::optional<int> wait_status;                    // process mode: waitpid's status once it exited
};

// Why the member is gone (declared lost), or nullopt while it is alive.
std::optional<std::string> liveness_verdict(const LivenessFacts& facts);

// A role with no member for this long, and none coming, ends the run.
std::chrono::milliseconds role_missing_limit(std::chrono::milliseconds worker_timeout);

// The learner's wait for the first welcome or after a restart: the startup timeout.
std::chrono::milliseconds startup_timeout(std::chrono::milliseconds worker_timeout);

}  // namespace grpo::actor
