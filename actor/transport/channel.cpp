#include "actor/transport/channel.h"

#include <zmq_addon.hpp>

namespace grpo::actor {

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

}  // namespace grpo::actor
