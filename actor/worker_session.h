// One worker of the actor runtime, the same code as a thread of `grpo train` (runtime.mode
// "threads") or as its own process (`grpo worker`, runtime.mode "processes" or a launcher's rank):
// connect to the learner's hub, say hello (role, rank, pid, run token), get the run settings in
// the welcome, then serve as a rollout or reward actor until the learner says shutdown or goes
// silent. Heartbeats go both ways (runtime.md §3.4).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "actor/transport/peer_link.h"

namespace grpo::rewards {
class Scorer;
}

namespace grpo::actor {

struct WorkerSpec {
  std::string role;                       // "rollout" | "reward"
  int rank = 0;                           // within the role
  int incarnation = 0;                    // restarts of this rank so far (part of the identity)
  std::string hub;                        // the learner's hub endpoint
  std::string token;                      // the run token the hub expects in the hello
  std::optional<actor::CurveKeys> curve;  // runtime.curve_key_file: CURVE client keys for tcp
  rewards::Scorer* scorer = nullptr;      // threads mode: built early by the learner (before threads start)
  std::atomic<bool>* stop = nullptr;      // threads mode: set when the learner tears down
  // How long to wait for the learner's welcome after the hello (grpo worker --hello-timeout-s):
  // a learner that never answers, or refuses this worker's CURVE key, ends the worker then.
  std::chrono::milliseconds hello_timeout{60000};
};

// A worker's connection with the liveness rules on top.
class WorkerSession {
 public:
  explicit WorkerSession(const WorkerSpec& spec);
  // Says hello and waits for the welcome (throws grpo::Error when none comes in time).
  nlohmann::json handshake(std::chrono::milliseconds timeout);
  // The next message from the learner other than a heartbeat; nullopt on timeout. Sends our
  // heartbeat when due. Throws LearnerGone when the learner has been silent past its timeout.
  std::optional<actor::Envelope> next(std::chrono::milliseconds timeout);
  void beat();  // sends a heartbeat if one is due (call it from long computations)
  // Reads what the learner sent without waiting (kept for next()); throws LearnerGone as next().
  void pump();
  bool send(const actor::Envelope& envelope);
  const WorkerSpec& spec() const { return spec_; }
  // How long one blocking call may keep a KeepAlive beating: the learner's startup timeout from
  // the welcome (at least 60 s). A build, a load or a forward past it is a hang.
  std::chrono::milliseconds busy_limit() const { return timeout_; }
  bool stopping() const { return spec_.stop && spec_.stop->load(); }

  struct LearnerGone : Error {
    using Error::Error;
  };

  // Keeps the heartbeats going from a second thread while the worker is inside one long call
  // that cannot call beat() itself (scoring a group, loading a version, building the model): a
  // busy worker must not look dead. After `limit` it stops beating, so a call that
  // hangs still ends in the learner declaring the worker lost and handing its work to others.
  class KeepAlive {
   public:
    KeepAlive(WorkerSession& session, std::chrono::milliseconds limit);
    ~KeepAlive();
    KeepAlive(const KeepAlive&) = delete;
    KeepAlive& operator=(const KeepAlive&) = delete;

   private:
    WorkerSession& session_;
    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    std::thread thread_;
  };

 private:
  // ZeroMQ sockets are not thread-safe: every use of link_ holds this (a KeepAlive's thread
  // beats while the owner thread is busy; the mutex also gives the memory barrier a socket
  // needs to change threads).
  std::mutex link_mutex_;
  WorkerSpec spec_;
  actor::WorkerLink link_;
  std::chrono::milliseconds interval_{1000}, timeout_{60000};
  std::chrono::steady_clock::time_point last_sent_, last_heard_;
  uint64_t sequence_ = 0;
  std::deque<actor::Envelope> pending_;
};

// Runs the worker to the end. Returns 0 after a shutdown from the learner, 1 when the learner is
// gone.
int run_worker(const WorkerSpec& spec);

// Role bodies (actor/rollout_actor.cpp, actor/reward_actor.cpp).
int run_rollout_actor(WorkerSession& session, const nlohmann::json& welcome);
int run_reward_actor(WorkerSession& session, const nlohmann::json& welcome);

}  // namespace grpo::actor
