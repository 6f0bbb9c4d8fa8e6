// runtime.weight_sync "nccl": each published weight version also goes to the rollout ranks by
// NCCL broadcast (actor/weights/nccl_broadcast.h), the learner as rank 0 and rollout worker r as rank
// r + 1. The communicator's unique id travels in the welcome. A broadcast is a collective: every
// member takes part in every version, in order, so the dispatcher tells each member about every
// version (a "nccl_weights" control with version, size and SHA-256; the first also carries the
// tensor table) and the member joins even when it already holds that version.
//
// The pull publisher (actor/weights/weight_sync.h) keeps serving every version as well: a worker that is
// not a member (a restarted one: a communicator cannot take a new rank) or whose broadcast failed
// pulls it from there. A failed or timed-out broadcast aborts the communicator on every side
// (a dead member must not hang the learner), and the run goes on with pulls only.
//
// Weights live in host memory (the models run on the CPU), so each version is staged through a
// device buffer on both sides (NcclBroadcaster::broadcast_host).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace grpo::actor {

// The learner's side. Its own thread joins the communicator as rank 0 once start_join() says
// every member has arrived (so no one's join deadline runs while the others are still starting),
// then broadcasts queued versions in order: training never waits on it.
class NcclWeightSender {
 public:
  NcclWeightSender(std::string unique_id_hex, int world, int device, std::chrono::milliseconds join_timeout,
                   std::chrono::milliseconds broadcast_timeout);
  ~NcclWeightSender();
  NcclWeightSender(const NcclWeightSender&) = delete;
  NcclWeightSender& operator=(const NcclWeightSender&) = delete;

  // Every member has been welcomed: join now.
  void start_join();
  // Queues one version's bytes for broadcast; ignored after a failure.
  void send(uint64_t version, std::shared_ptr<const std::vector<uint8_t>> bytes);
  // Gives the communicator up now (a member was lost or left): a broadcast in progress is
  // cancelled, failure() says `why`, and every later version goes by pull.
  void abandon(const std::string& why);
  // Empty while healthy; afterwards, why the communicator was given up.
  std::string failure() const;
  // Versions whose broadcast finished.
  uint64_t broadcasts_done() const;

 private:
  void run(std::string unique_id_hex, int world, int device, std::chrono::milliseconds join_timeout,
           std::chrono::milliseconds broadcast_timeout);
  void give_up(const std::string& why);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, std::shared_ptr<const std::vector<uint8_t>>>> queue_;
  std::string failure_;
  uint64_t done_ = 0;
  bool join_ = false, stop_ = false;
  std::atomic<bool> cancel_{false};  // ends a join or broadcast waiting on members that are gone
  std::thread thread_;
};

}  // namespace grpo::actor
