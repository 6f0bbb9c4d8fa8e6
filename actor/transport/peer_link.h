// The learner's hub and the workers' links to it (runtime.md §3.4, Paranoid Pirate style):
// the learner binds one ROUTER, every worker connects one DEALER with its own identity. The
// learner addresses a worker by identity; a send to a worker that is gone fails at once
// (ZMQ_ROUTER_MANDATORY) instead of being dropped silently. HWMs bound every queue.
//
// Besides the data messages of actor/transport/messages.h, a few control messages travel on the same
// sockets: hello (worker → learner: role, rank, pid, run token), welcome (learner → worker: the
// run settings), weights (rollout → learner: version loaded and its hash), stats (rollout →
// learner: speculative decoding counters). Their wire form is one frame: "GCTL" + JSON. They
// are not part of the message schema because only the runtime itself reads them.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <zmq.hpp>

#include "actor/transport/channel.h"
#include "actor/transport/curve.h"
#include "actor/transport/messages.h"

namespace grpo::actor {

struct Control {
  std::string kind;  // "hello" | "welcome" | "weights" | "stats"
  nlohmann::json body = nlohmann::json::object();
};

using Envelope = std::variant<Message, Control>;

Frames encode_envelope(const Envelope& envelope);
// Throws DecodeError for anything that is neither a message nor a well-formed control frame.
Envelope decode_envelope(const Frames& frames);

struct Incoming {
  std::string peer;  // the sender's identity
  Envelope envelope;
};

class Hub {
 public:
  // `curve`: bind as a CURVE server that accepts only curve->client_public (actor/transport/curve.h).
  Hub(const std::string& address, int high_water_mark = 64, zmq::context_t& context = process_context(),
      const std::optional<CurveKeys>& curve = std::nullopt);
  // False when the peer is unknown or gone, or its queue stayed full for `timeout`.
  bool send(const std::string& peer, const Envelope& envelope, std::chrono::milliseconds timeout);
  // The next decodable message; nullopt after `timeout`. Undecodable ones are dropped and counted.
  std::optional<Incoming> receive(std::chrono::milliseconds timeout);
  std::string endpoint() const;
  size_t malformed() const { return malformed_; }

 private:
  std::unique_ptr<CurveServerGuard> curve_;  // before socket_: outlives it (see CurveServerGuard)
  zmq::socket_t socket_;
  size_t malformed_ = 0;
};

class WorkerLink {
 public:
  // `curve`: connect as a CURVE client with the derived client key pair (actor/transport/curve.h).
  WorkerLink(const std::string& address, const std::string& identity, int high_water_mark = 64,
             zmq::context_t& context = process_context(), const std::optional<CurveKeys>& curve = std::nullopt);
  bool send(const Envelope& envelope, std::chrono::milliseconds timeout);
  std::optional<Envelope> receive(std::chrono::milliseconds timeout);

 private:
  zmq::socket_t socket_;
};

}  // namespace grpo::actor
