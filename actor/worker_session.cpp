#include "actor/worker_session.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "actor/membership.h"

namespace grpo::actor {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

WorkerSession::WorkerSession(const WorkerSpec& spec)
    : spec_(spec),
      link_(spec.hub, worker_identity(spec.role, spec.rank, spec.incarnation), 64, actor::process_context(),
            spec.curve) {
  last_sent_ = last_heard_ = Clock::now();
}

json WorkerSession::handshake(milliseconds timeout) {
  const json hello = {{"role", spec_.role},
                      {"rank", spec_.rank},
                      {"pid", static_cast<long>(::getpid())},
                      {"incarnation", spec_.incarnation},
                      {"token", spec_.token}};
  const auto deadline = Clock::now() + timeout;
  auto next_hello = Clock::now();
  while (Clock::now() < deadline) {
    if (stopping()) throw LearnerGone("stopped before the welcome");
    if (Clock::now() >= next_hello) {  // repeated: the hub may not be up yet, or missed it
      link_.send(actor::Control{"hello", hello}, milliseconds(1000));
      next_hello = Clock::now() + milliseconds(1000);
    }
    auto env = link_.receive(milliseconds(100));
    if (!env) continue;
    if (const auto* c = std::get_if<actor::Control>(&*env); c && c->kind == "welcome") {
      interval_ = milliseconds(c->body.value("heartbeat_ms", 1000L));
      timeout_ = milliseconds(c->body.value("learner_timeout_ms", 60000L));
      last_heard_ = Clock::now();
      return c->body;
    }
    if (const auto* m = std::get_if<actor::Message>(&*env); m && std::holds_alternative<actor::Shutdown>(*m))
      throw LearnerGone("the learner refused this worker: " + std::get<actor::Shutdown>(*m).reason);
  }
  throw LearnerGone("no welcome from the learner at " + spec_.hub + " within " + std::to_string(timeout.count()) +
                    " ms");
}

void WorkerSession::beat() {
  std::lock_guard lock(link_mutex_);
  if (Clock::now() - last_sent_ < interval_) return;
  link_.send(actor::Message{actor::Heartbeat{spec_.role, static_cast<uint32_t>(spec_.rank), ++sequence_}},
             milliseconds(100));
  last_sent_ = Clock::now();
}

bool WorkerSession::send(const actor::Envelope& envelope) {
  // Blocks while the hub's queue for us is full (back-pressure), a beat's worth at a time.
  while (true) {
    {
      std::lock_guard lock(link_mutex_);
      if (link_.send(envelope, interval_)) {
        last_sent_ = Clock::now();  // any traffic counts as a heartbeat
        return true;
      }
    }
    if (stopping()) return false;
    if (Clock::now() - last_heard_ > timeout_) throw LearnerGone("the learner stopped reading");
  }
}

void WorkerSession::pump() {
  beat();
  std::lock_guard lock(link_mutex_);
  while (auto env = link_.receive(milliseconds(0))) {
    last_heard_ = Clock::now();
    const auto* m = std::get_if<actor::Message>(&*env);
    if (!(m && std::holds_alternative<actor::Heartbeat>(*m))) pending_.push_back(std::move(*env));
  }
  if (Clock::now() - last_heard_ > timeout_)
    throw LearnerGone("no word from the learner for " + std::to_string(timeout_.count()) + " ms");
}

std::optional<actor::Envelope> WorkerSession::next(milliseconds timeout) {
  if (!pending_.empty()) {
    auto env = std::move(pending_.front());
    pending_.pop_front();
    return env;
  }
  const auto deadline = Clock::now() + timeout;
  while (true) {
    beat();
    if (stopping()) return actor::Envelope{actor::Message{actor::Shutdown{"learner stopping"}}};
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::optional<actor::Envelope> env;
    {
      std::lock_guard lock(link_mutex_);
      env = link_.receive(std::clamp(left, milliseconds(0), std::min(interval_, milliseconds(200))));
    }
    if (env) {
      last_heard_ = Clock::now();
      const auto* m = std::get_if<actor::Message>(&*env);
      if (m && std::holds_alternative<actor::Heartbeat>(*m)) continue;
      return env;
    }
    if (Clock::now() - last_heard_ > timeout_)
      throw LearnerGone("no word from the learner for " + std::to_string(timeout_.count()) + " ms");
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

WorkerSession::KeepAlive::KeepAlive(WorkerSession& session, milliseconds limit) : session_(session) {
  thread_ = std::thread([this, limit] {
    const auto until = Clock::now() + limit;
    std::unique_lock lock(mutex_);
    while (!done_ && Clock::now() < until) {
      lock.unlock();
      try {
        session_.beat();  // sends only when one is due
      } catch (const std::exception&) {
        // ETERM at exit, EINTR: the owner thread meets the same socket state and reports it;
        // an exception must not leave this thread (std::terminate).
      }
      lock.lock();
      done_cv_.wait_for(lock, std::clamp(session_.interval_ / 2, milliseconds(10), milliseconds(200)),
                        [this] { return done_; });
    }
  });
}

WorkerSession::KeepAlive::~KeepAlive() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  done_cv_.notify_all();
  thread_.join();
}

int run_worker(const WorkerSpec& spec) {
  WorkerSession session(spec);
  const std::string who = worker_identity(spec.role, spec.rank, spec.incarnation);
  try {
    const json welcome = session.handshake(spec.hello_timeout);
    if (spec.role == "rollout") return run_rollout_actor(session, welcome);
    if (spec.role == "reward") return run_reward_actor(session, welcome);
    throw Error("worker role '" + spec.role + "': expected rollout or reward");
  } catch (const WorkerSession::LearnerGone& e) {
    if (!session.stopping()) std::fprintf(stderr, "grpo worker %s: %s; exiting\n", who.c_str(), e.what());
    return 1;
  }
}

}  // namespace grpo::actor
