#include "actor/transport/peer_link.h"

#include <zmq_addon.hpp>

namespace grpo::actor {
namespace {

constexpr char kControlMagic[] = "GCTL";
constexpr size_t kMaxControlBytes = 16u << 20;

bool is_control(const Frames& frames) {
  return frames.size() == 1 && frames[0].size() >= 4 && frames[0].compare(0, 4, kControlMagic) == 0;
}

// actor/transport/channel.h's send_frames, where an error is a refusal too: EHOSTUNREACH, the ROUTER does
// not know this peer (any more).
bool send_or_refused(zmq::socket_t& socket, const Frames& frames, std::chrono::milliseconds timeout) {
  try {
    return send_frames(socket, frames, timeout);
  } catch (const zmq::error_t&) {
    return false;
  }
}

void bind_or_connect(zmq::socket_t& socket, const std::string& address, bool bind) {
  try {
    if (bind)
      socket.bind(address);
    else
      socket.connect(address);
  } catch (const zmq::error_t& e) {
    throw Error("cannot " + std::string(bind ? "bind" : "connect to") + " " + address + ": " + e.what() +
                (bind ? " (is the address in use by another run? set runtime.interface or MASTER_PORT)" : ""));
  }
}

}  // namespace

Frames encode_envelope(const Envelope& envelope) {
  if (const auto* m = std::get_if<Message>(&envelope)) return encode(*m);
  const auto& c = std::get<Control>(envelope);
  return {std::string(kControlMagic) + nlohmann::json{{"kind", c.kind}, {"body", c.body}}.dump()};
}

Envelope decode_envelope(const Frames& frames) {
  if (!is_control(frames)) return decode(frames);
  if (frames[0].size() > kMaxControlBytes) throw DecodeError("control message larger than 16 MiB");
  auto j = nlohmann::json::parse(frames[0].begin() + 4, frames[0].end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !j.contains("body") || !j["body"].is_object())
    throw DecodeError("control message: expected a JSON object with a string 'kind' and an object 'body'");
  return Control{j["kind"].get<std::string>(), j["body"]};
}

Hub::Hub(const std::string& address, int high_water_mark, zmq::context_t& context,
         const std::optional<CurveKeys>& curve)
    : socket_(context, zmq::socket_type::router) {
  if (curve) curve_ = std::make_unique<CurveServerGuard>(socket_, context, *curve);  // before bind
  socket_.set(zmq::sockopt::sndhwm, high_water_mark);
  socket_.set(zmq::sockopt::rcvhwm, high_water_mark * 4);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::router_mandatory, 1);  // a send to a gone peer fails instead of vanishing
  bind_or_connect(socket_, address, /*bind=*/true);
}

bool Hub::send(const std::string& peer, const Envelope& envelope, std::chrono::milliseconds timeout) {
  Frames frames = encode_envelope(envelope);
  frames.insert(frames.begin(), peer);
  return send_or_refused(socket_, frames, timeout);
}

std::optional<Incoming> Hub::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto frames = receive_frames(socket_, std::max(left, std::chrono::milliseconds(0)));
    if (!frames) return std::nullopt;
    if (frames->size() < 2) {
      ++malformed_;
      continue;
    }
    Incoming in;
    in.peer = (*frames)[0];
    frames->erase(frames->begin());
    try {
      in.envelope = decode_envelope(*frames);
      return in;
    } catch (const DecodeError&) {
      ++malformed_;  // a hostile or broken message is dropped, never a crash
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
  }
}

std::string Hub::endpoint() const { return socket_.get(zmq::sockopt::last_endpoint); }

WorkerLink::WorkerLink(const std::string& address, const std::string& identity, int high_water_mark,
                       zmq::context_t& context, const std::optional<CurveKeys>& curve)
    : socket_(context, zmq::socket_type::dealer) {
  if (curve) apply_curve_client(socket_, *curve);  // before connect
  socket_.set(zmq::sockopt::routing_id, identity);
  socket_.set(zmq::sockopt::sndhwm, high_water_mark);
  socket_.set(zmq::sockopt::rcvhwm, high_water_mark);
  socket_.set(zmq::sockopt::linger, 0);
  bind_or_connect(socket_, address, /*bind=*/false);
}

bool WorkerLink::send(const Envelope& envelope, std::chrono::milliseconds timeout) {
  return send_or_refused(socket_, encode_envelope(envelope), timeout);
}

std::optional<Envelope> WorkerLink::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto frames = receive_frames(socket_, std::max(left, std::chrono::milliseconds(0)));
    if (!frames) return std::nullopt;
    try {
      return decode_envelope(*frames);
    } catch (const DecodeError&) {
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
  }
}

}  // namespace grpo::actor
