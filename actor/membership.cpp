#include "actor/membership.h"

#include <sys/wait.h>

#include <algorithm>

namespace grpo::actor {

std::string worker_identity(const std::string& role, int rank, int incarnation) {
  return role + "-" + std::to_string(rank) + "." + std::to_string(incarnation);
}

std::string hello_refusal(const HelloFacts& h) {
  const int count = h.role == "rollout" ? h.rollout_workers : h.role == "reward" ? h.reward_workers : 0;
  if (h.token != h.expected_token) return "wrong run token";
  if (h.rank < 0 || h.rank >= count)
    return "no " + h.role + " worker of rank " + std::to_string(h.rank) + " in this run";
  if (h.peer != worker_identity(h.role, h.rank, h.incarnation)) return "identity does not match role and rank";
  // Only the incarnations this run started may say hello: a peer with the token cannot slip in
  // as an extra worker of a rank.
  const bool expected = h.processes_mode ? h.spawned_by_us : h.incarnation == 0;
  if (!expected)
    return "no incarnation " + std::to_string(h.incarnation) + " of " + h.role + " worker " + std::to_string(h.rank) +
           " was started by this run";
  return "";
}

std::optional<std::string> liveness_verdict(const LivenessFacts& f) {
  if (f.wait_status) {
    const int status = *f.wait_status;
    return WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                               : "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  const auto limit = f.ready ? f.worker_timeout : f.startup_timeout;
  if (f.silent_for > limit) return "no heartbeat for " + std::to_string(limit.count()) + " ms";
  return std::nullopt;
}

std::chrono::milliseconds role_missing_limit(std::chrono::milliseconds worker_timeout) {
  return std::max(worker_timeout * 3, std::chrono::milliseconds(30000));
}

std::chrono::milliseconds startup_timeout(std::chrono::milliseconds worker_timeout) {
  return std::max(std::chrono::milliseconds(60000), 6 * worker_timeout);
}

}  // namespace grpo::actor
