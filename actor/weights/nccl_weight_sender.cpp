#include "actor/weights/nccl_weight_sender.h"

#include <cstdio>

#include "actor/weights/nccl_broadcast.h"

namespace grpo::actor {

NcclWeightSender::NcclWeightSender(std::string unique_id_hex, int world, int device,
                                   std::chrono::milliseconds join_timeout,
                                   std::chrono::milliseconds broadcast_timeout) {
  thread_ = std::thread([this, id = std::move(unique_id_hex), world, device, join_timeout, broadcast_timeout] {
    run(id, world, device, join_timeout, broadcast_timeout);
  });
}

NcclWeightSender::~NcclWeightSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  // The workers are shut down by now: a broadcast still waiting for them (the last version,
  // published after the last step) is cancelled instead of waiting out its deadline.
  cancel_ = true;
  cv_.notify_all();
  thread_.join();
}

void NcclWeightSender::start_join() {
  {
    std::lock_guard lock(mu_);
    join_ = true;
  }
  cv_.notify_all();
}

void NcclWeightSender::send(uint64_t version, std::shared_ptr<const std::vector<uint8_t>> bytes) {
  {
    std::lock_guard lock(mu_);
    if (!failure_.empty()) return;
    queue_.emplace_back(version, std::move(bytes));
  }
  cv_.notify_all();
}

void NcclWeightSender::abandon(const std::string& why) {
  give_up(why);
  cancel_ = true;
  cv_.notify_all();
}

std::string NcclWeightSender::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

uint64_t NcclWeightSender::broadcasts_done() const {
  std::lock_guard lock(mu_);
  return done_;
}

void NcclWeightSender::give_up(const std::string& why) {
  std::lock_guard lock(mu_);
  if (!failure_.empty() || stop_) return;  // the first reason stands; nothing to say at shutdown
  std::fprintf(stderr, "grpo train: NCCL weight broadcast given up (%s); weights go over ZeroMQ from now on\n",
               why.c_str());
  failure_ = why;
  queue_.clear();
}

void NcclWeightSender::run(std::string unique_id_hex, int world, int device, std::chrono::milliseconds join_timeout,
                           std::chrono::milliseconds broadcast_timeout) {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return join_ || stop_ || !failure_.empty(); });
    if (!join_) return;
  }
  std::unique_ptr<actor::NcclBroadcaster> comm;
  try {
    actor::NcclBroadcastOptions join;
    join.timeout = join_timeout;
    join.cancel = &cancel_;
    comm = std::make_unique<actor::NcclBroadcaster>(unique_id_hex, 0, world, device, join);
  } catch (const std::exception& e) {
    give_up(std::string("joining: ") + e.what());
    return;
  }
  comm->set_timeout(broadcast_timeout);  // joining waited for the ranks to start; a version should not
  while (true) {
    std::pair<uint64_t, std::shared_ptr<const std::vector<uint8_t>>> item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !failure_.empty() || !queue_.empty(); });
      if (stop_ || !failure_.empty()) {
        comm->abort();  // shutting down, or given up: a clean finalize would wait for the members
        return;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      // broadcast_host only reads the buffer on rank 0.
      comm->broadcast_host(const_cast<uint8_t*>(item.second->data()), item.second->size());
      std::lock_guard lock(mu_);
      ++done_;
    } catch (const std::exception& e) {
      give_up("version " + std::to_string(item.first) + ": " + e.what());
      return;
    }
  }
}

}  // namespace grpo::actor
