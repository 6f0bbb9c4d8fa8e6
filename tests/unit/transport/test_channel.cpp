// send_frames / receive_frames (actor/transport/channel.h): multipart messages arrive whole and
// in order, a receive times out instead of blocking, and a full queue makes a send time out
// (back-pressure) instead of growing without bound.
#include <gtest/gtest.h>

#include "actor/transport/channel.h"

using namespace grpo::actor;
using namespace std::chrono_literals;

namespace {

struct Pair {
  zmq::socket_t a{process_context(), zmq::socket_type::pair}, b{process_context(), zmq::socket_type::pair};
  explicit Pair(const std::string& address, int hwm = 1000) {
    for (auto* s : {&a, &b}) {
      s->set(zmq::sockopt::sndhwm, hwm);
      s->set(zmq::sockopt::rcvhwm, hwm);
      s->set(zmq::sockopt::linger, 0);
    }
    a.bind(address);
    b.connect(address);
  }
};

}  // namespace

TEST(Channel, MultipartMessagesArriveWholeAndInOrder) {
  Pair p("inproc://channel-order");
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(send_frames(p.a, {"head" + std::to_string(i), "", std::string(3000, 'x')}, 1s));
  for (int i = 0; i < 20; ++i) {
    const auto frames = receive_frames(p.b, 1s);
    ASSERT_TRUE(frames.has_value()) << "message " << i;
    ASSERT_EQ(frames->size(), 3u);
    EXPECT_EQ((*frames)[0], "head" + std::to_string(i));
    EXPECT_EQ((*frames)[1], "");
    EXPECT_EQ((*frames)[2].size(), 3000u);
  }
}

TEST(Channel, ReceiveTimesOutWhenNothingCame) {
  Pair p("inproc://channel-timeout");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(receive_frames(p.b, 30ms).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // bounded, not a hang
}

TEST(Channel, AFullQueueMakesTheSendTimeOut) {
  Pair p("inproc://channel-backpressure", /*hwm=*/2);
  int sent = 0;
  while (sent < 10000 && send_frames(p.a, {"x"}, 20ms)) ++sent;
  EXPECT_LT(sent, 10000) << "the queue never filled";
  EXPECT_GT(sent, 0);
  int drained = 0;  // the receiver drains the queue...
  while (receive_frames(p.b, 50ms)) ++drained;
  EXPECT_EQ(drained, sent);
  EXPECT_TRUE(send_frames(p.a, {"y"}, 1s));  // ...and the sender goes on
}
