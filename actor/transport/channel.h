// One-way channels between actors over ZeroMQ PUSH/PULL, the same code on inproc://, ipc:// and
// tcp://. Queues are bounded by high-water marks, so a slow consumer makes send() wait (and
// time out) instead of letting memory grow: back-pressure.
#pragma once

#include <chrono>
#include <memory>
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

struct ChannelOptions {
  bool bind = false;         // true: this end binds the address; false: connects to it
  int high_water_mark = 16;  // messages queued per direction before send() waits
  int linger_ms = 0;         // on close, how long unsent messages are kept
};

// The socket file of an ipc:// endpoint this process bound, removed when the socket is gone:
// libzmq leaves it behind when the process exits soon after closing. Abstract names
// ("ipc://@name") have no file.
class IpcFile {
 public:
  IpcFile() = default;
  IpcFile(const std::string& address, bool bound);
  ~IpcFile();
  IpcFile(const IpcFile&) = delete;
  IpcFile& operator=(const IpcFile&) = delete;

 private:
  std::string path_;
};

class Sender {
 public:
  Sender(const std::string& address, const ChannelOptions& options, zmq::context_t& context = process_context());
  // Sends a message; false when the queue stayed full for `timeout` (the receiver is slow or gone).
  bool send(const Message& message, std::chrono::milliseconds timeout);
  // Sends raw frames as they are (tests use it to inject malformed messages).
  bool send_frames(const Frames& frames, std::chrono::milliseconds timeout);
  // The bound endpoint with the port resolved (for "tcp://127.0.0.1:*").
  std::string endpoint() const;

 private:
  IpcFile ipc_file_;  // before socket_: removed after the socket is closed
  zmq::socket_t socket_;
};

class Receiver {
 public:
  Receiver(const std::string& address, const ChannelOptions& options, zmq::context_t& context = process_context());
  // The next well-formed message, or nullopt when none arrived within `timeout`. Malformed
  // messages are dropped and counted; the reason of the last one is kept for the logs.
  std::optional<Message> receive(std::chrono::milliseconds timeout);
  size_t dropped() const { return dropped_; }
  const std::string& last_drop_reason() const { return last_drop_reason_; }
  std::string endpoint() const;

 private:
  IpcFile ipc_file_;  // before socket_: removed after the socket is closed
  zmq::socket_t socket_;
  size_t dropped_ = 0;
  std::string last_drop_reason_;
};

}  // namespace grpo::actor
