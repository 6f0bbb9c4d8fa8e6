#include "actor/transport/channel.h"

#include <unistd.h>

#include <zmq_addon.hpp>

namespace grpo::actor {
namespace {

void open(zmq::socket_t& socket, const std::string& address, const ChannelOptions& options, bool sender) {
  if (sender)
    socket.set(zmq::sockopt::sndhwm, options.high_water_mark);
  else
    socket.set(zmq::sockopt::rcvhwm, options.high_water_mark);
  socket.set(zmq::sockopt::linger, options.linger_ms);
  try {
    if (options.bind)
      socket.bind(address);
    else
      socket.connect(address);
  } catch (const zmq::error_t& e) {
    throw Error("cannot " + std::string(options.bind ? "bind" : "connect to") + " " + address + ": " + e.what() +
                (options.bind ? " (is the address in use by another run?)" : ""));
  }
}

}  // namespace

IpcFile::IpcFile(const std::string& address, bool bound) {
  const std::string scheme = "ipc://";
  if (bound && address.rfind(scheme, 0) == 0 && address.size() > scheme.size() && address[scheme.size()] != '@')
    path_ = address.substr(scheme.size());
}

IpcFile::~IpcFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

zmq::context_t& process_context() {
  static zmq::context_t context(1);
  return context;
}

std::optional<Frames> receive_frames(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  socket.set(zmq::sockopt::rcvtimeo, static_cast<int>(std::max<long>(0, timeout.count())));
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket, std::back_inserter(parts))) return std::nullopt;
  Frames frames;
  frames.reserve(parts.size());
  for (auto& p : parts) frames.emplace_back(static_cast<const char*>(p.data()), p.size());
  return frames;
}

bool send_frames(zmq::socket_t& socket, const Frames& frames, std::chrono::milliseconds timeout) {
  socket.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
  std::vector<zmq::const_buffer> buffers;
  buffers.reserve(frames.size());
  for (const auto& f : frames) buffers.emplace_back(f.data(), f.size());
  return zmq::send_multipart(socket, buffers).has_value();
}

Sender::Sender(const std::string& address, const ChannelOptions& options, zmq::context_t& context)
    : ipc_file_(address, options.bind), socket_(context, zmq::socket_type::push) {
  open(socket_, address, options, /*sender=*/true);
}

bool Sender::send_frames(const Frames& frames, std::chrono::milliseconds timeout) {
  return actor::send_frames(socket_, frames, timeout);
}

bool Sender::send(const Message& message, std::chrono::milliseconds timeout) {
  return send_frames(encode(message), timeout);
}

std::string Sender::endpoint() const { return socket_.get(zmq::sockopt::last_endpoint); }

Receiver::Receiver(const std::string& address, const ChannelOptions& options, zmq::context_t& context)
    : ipc_file_(address, options.bind), socket_(context, zmq::socket_type::pull) {
  open(socket_, address, options, /*sender=*/false);
}

std::optional<Message> Receiver::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    auto frames = receive_frames(socket_, left);
    if (!frames) return std::nullopt;
    try {
      return decode(*frames);
    } catch (const DecodeError& e) {
      ++dropped_;
      last_drop_reason_ = e.what();
      if (left.count() == 0) return std::nullopt;
    }
  }
}

std::string Receiver::endpoint() const { return socket_.get(zmq::sockopt::last_endpoint); }

}  // namespace grpo::actor
