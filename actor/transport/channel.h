// ZeroMQ frames in and out, the same code on inproc://, ipc:// and tcp://: what the hub and the
// worker links (actor/transport/peer_link.h) and the weight protocol (actor/weights/) send and
// receive. Queues are bounded by high-water marks, so a slow consumer makes a send wait (and time
// out) instead of letting memory grow: back-pressure.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "actor/transport/messages.h"

namespace grpo::actor {

// The process-wide ZeroMQ context: inproc:// endpoints only connect within one context.
zmq::context_t& process_context();

// One multipart message from `socket` as frames, or nullopt when none came within `timeout`.
std::optional<Frames> receive_frames(zmq::socket_t& socket, std::chrono::milliseconds timeout);
// Queues `frames` as one multipart message (atomically: all frames or none); false when the
// queue stayed full for `timeout`. ZeroMQ errors other than a timeout are thrown (zmq::error_t).
bool send_frames(zmq::socket_t& socket, const Frames& frames, std::chrono::milliseconds timeout);

}  // namespace grpo::actor
