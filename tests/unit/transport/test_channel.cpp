#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "actor/transport/channel.h"

using namespace grpo::actor;
using namespace std::chrono_literals;

namespace {

void round_trip(const std::string& bind_address) {
  Receiver rx(bind_address, {.bind = true});
  std::string endpoint = rx.endpoint();  // resolves tcp://127.0.0.1:* to the real port
  Sender tx(endpoint, {.bind = false});
  for (uint32_t i = 0; i < 20; ++i) ASSERT_TRUE(tx.send(Heartbeat{"rollout", i, i * 10}, 2s));
  for (uint32_t i = 0; i < 20; ++i) {
    auto m = rx.receive(2s);
    ASSERT_TRUE(m.has_value()) << "message " << i << " over " << endpoint;
    EXPECT_EQ(std::get<Heartbeat>(*m).rank, i);  // PUSH/PULL keeps order on one connection
  }
  EXPECT_FALSE(rx.receive(20ms).has_value());
}

}  // namespace

TEST(Channel, InprocRoundTrip) { round_trip("inproc://channel-test"); }

TEST(Channel, IpcRoundTrip) {
  const std::string path = "/tmp/grpo-channel-test-" + std::to_string(::getpid());
  round_trip("ipc://" + path);
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << path << " was left behind";  // the binding end removes it
}

TEST(Channel, TcpLoopbackRoundTrip) { round_trip("tcp://127.0.0.1:*"); }

TEST(Channel, FullQueueAppliesBackPressure) {
  Receiver rx("inproc://backpressure", {.bind = true, .high_water_mark = 2});
  Sender tx("inproc://backpressure", {.bind = false, .high_water_mark = 2});
  int accepted = 0;
  while (accepted < 1000 && tx.send(Shutdown{"x"}, 10ms)) ++accepted;
  // Both ends' queues together hold a handful of messages; the rest must wait.
  EXPECT_LT(accepted, 20);
  EXPECT_GE(accepted, 2);
  // Draining the queue makes room again (ZeroMQ re-opens the pipe after a low-water mark).
  for (int i = 0; i < accepted; ++i) ASSERT_TRUE(rx.receive(1s).has_value());
  EXPECT_TRUE(tx.send(Shutdown{"y"}, 1s));
  ASSERT_TRUE(rx.receive(1s).has_value());
}

TEST(Channel, MalformedMessagesAreDroppedAndCounted) {
  Receiver rx("inproc://malformed", {.bind = true});
  Sender tx("inproc://malformed", {.bind = false});
  ASSERT_TRUE(tx.send_frames({"not a grpo message"}, 1s));
  ASSERT_TRUE(tx.send_frames({std::string("GRPO\x01\x00\x05garbage", 14)}, 1s));
  ASSERT_TRUE(tx.send(Shutdown{"after"}, 1s));
  auto m = rx.receive(2s);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(std::get<Shutdown>(*m).reason, "after");
  EXPECT_EQ(rx.dropped(), 2u);
  EXPECT_FALSE(rx.last_drop_reason().empty());
}

TEST(Channel, BindingAnAddressInUseNamesIt) {
  Receiver first("inproc://taken", {.bind = true});
  try {
    Receiver second("inproc://taken", {.bind = true});
    FAIL();
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("inproc://taken"), std::string::npos);
  }
}

TEST(Channel, ManyProducersOneConsumer) {
  Receiver rx("inproc://fan-in", {.bind = true});
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < 4; ++p)
    producers.emplace_back([p] {
      Sender tx("inproc://fan-in", {});
      for (uint64_t i = 0; i < 50; ++i) tx.send(Heartbeat{"reward", p, i}, 2s);
    });
  std::vector<int> per_producer(4, 0);
  for (int i = 0; i < 200; ++i) {
    auto m = rx.receive(2s);
    ASSERT_TRUE(m.has_value());
    per_producer[std::get<Heartbeat>(*m).rank]++;
  }
  for (auto& t : producers) t.join();
  for (int c : per_producer) EXPECT_EQ(c, 50);
}
