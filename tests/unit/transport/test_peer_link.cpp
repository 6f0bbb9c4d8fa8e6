// The hub (ROUTER) and worker links (DEALER) of actor/transport/peer_link.h: addressed delivery, control
// frames, hostile frames dropped, and a send to a peer that is gone fails instead of vanishing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <zmq_addon.hpp>

#include "actor/transport/peer_link.h"

using namespace grpo::actor;
using namespace std::chrono_literals;

namespace {

void exchange(const std::string& address) {
  Hub hub(address);
  WorkerLink a(hub.endpoint(), "rollout-0.0"), b(hub.endpoint(), "reward-0.0");
  ASSERT_TRUE(a.send(Control{"hello", {{"rank", 0}}}, 2s));
  ASSERT_TRUE(b.send(Message{Heartbeat{"reward", 0, 7}}, 2s));
  std::map<std::string, Envelope> got;
  for (int i = 0; i < 2; ++i) {
    auto in = hub.receive(2s);
    ASSERT_TRUE(in.has_value());
    got[in->peer] = in->envelope;
  }
  EXPECT_EQ(std::get<Control>(got.at("rollout-0.0")).kind, "hello");
  EXPECT_EQ(std::get<Heartbeat>(std::get<Message>(got.at("reward-0.0"))).sequence, 7u);
  ASSERT_TRUE(hub.send("reward-0.0", Message{Shutdown{"bye"}}, 2s));
  auto m = b.receive(2s);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(std::get<Shutdown>(std::get<Message>(*m)).reason, "bye");
  EXPECT_FALSE(a.receive(20ms).has_value());                        // addressed to b only
  EXPECT_FALSE(hub.send("nobody", Message{Shutdown{"x"}}, 100ms));  // unknown peer: refused at once
}

}  // namespace

TEST(PeerLink, Inproc) { exchange("inproc://peer-link-test"); }
TEST(PeerLink, Ipc) { exchange("ipc:///tmp/grpo-peer-link-test-" + std::to_string(::getpid())); }
TEST(PeerLink, TcpLoopback) { exchange("tcp://127.0.0.1:*"); }

TEST(PeerLink, MalformedFramesAreDroppedNotFatal) {
  Hub hub("inproc://peer-link-malformed");
  zmq::socket_t raw(process_context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::routing_id, "evil");
  raw.connect(hub.endpoint());
  for (std::string junk : {"GCTLnot json", "GCTL{\"kind\":3}", "GRPO\x01", "x"})
    raw.send(zmq::buffer(junk), zmq::send_flags::none);
  // Then a good message on the same connection (ordered after the junk): the hub skips the junk.
  for (const auto& f : encode_envelope(Control{"stats", {{"step", 1}}}))
    raw.send(zmq::buffer(f), zmq::send_flags::none);
  auto in = hub.receive(2s);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "evil");
  EXPECT_EQ(std::get<Control>(in->envelope).kind, "stats");
  EXPECT_EQ(hub.malformed(), 4u);
}

TEST(PeerLink, ControlEnvelopeRoundTrip) {
  Control c{"weights", {{"version", 3}, {"hash", "ab"}}};
  auto back = std::get<Control>(decode_envelope(encode_envelope(c)));
  EXPECT_EQ(back.kind, "weights");
  EXPECT_EQ(back.body["version"], 3);
  EXPECT_THROW(decode_envelope(Frames{"GCTL[]"}), DecodeError);
}
