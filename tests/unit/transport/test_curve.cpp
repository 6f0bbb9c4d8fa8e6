// Shared-key (CURVE) mode of actor/transport/curve.h: key derivation and the key file, then the hub and
// the weight publisher refusing every client that lacks the derived client key. Timeouts below
// only bound a wait ("nothing arrived in 1 s" is the refusal); nothing is timed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "actor/transport/curve.h"
#include "actor/transport/peer_link.h"
#include "actor/weights/weight_sync.h"

using namespace grpo::actor;
using grpo::sha256_hex;
using grpo::WeightBlob;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";
const std::string kOtherSecret = "fedcba9876543210fedcba9876543210-other-secret";

std::string z85_to_hex(const std::string& z85) {
  uint8_t raw[32];
  EXPECT_NE(zmq_z85_decode(raw, z85.c_str()), nullptr) << z85;
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (uint8_t c : raw) hex += {digits[c >> 4], digits[c & 15]};
  return hex;
}

std::string public_of(const std::string& secret_z85) {
  char out[41];
  EXPECT_EQ(zmq_curve_public(out, secret_z85.c_str()), 0);
  return std::string(out, 40);
}

// curve_refused() grew past `before` within `limit` (a bound on a hang, not a timing check).
bool refused_grows(size_t before, std::chrono::milliseconds limit = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (curve_refused() > before) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// A fresh directory under /tmp for key files (removed with unlink/rmdir, not remove_all).
struct TempDir {
  std::string path;
  std::vector<std::string> files;
  TempDir() {
    char tmpl[] = "/tmp/grpo-curve-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string p = path + "/" + name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    files.push_back(p);
    return p;
  }
  ~TempDir() {
    for (const auto& f : files) ::unlink(f.c_str());
    ::rmdir(path.c_str());
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const grpo::Error& e) {
    return e.what();
  }
  return "";
}

WeightBlob small_blob(uint64_t version) {
  WeightBlob b;
  b.version = version;
  b.format = "fp32";
  b.data.resize(5000);
  std::mt19937 rng(7);
  for (auto& x : b.data) x = static_cast<uint8_t>(rng());
  b.table =
      nlohmann::json::array({{{"name", "w"}, {"dtype", "F32"}, {"shape", {1250}}, {"offset", 0}, {"bytes", 5000}}});
  return b;
}

}  // namespace

TEST(Curve, IsAvailableHere) {
  ASSERT_TRUE(curve_available()) << "libzmq without CURVE: the shared-key mode cannot work";
}

TEST(Curve, KeysAreDeterministicAndFollowTheDerivation) {
  const CurveKeys a = curve_keys_from_secret(kSecret), b = curve_keys_from_secret(kSecret);
  EXPECT_EQ(a.server_public, b.server_public);
  EXPECT_EQ(a.server_secret, b.server_secret);
  EXPECT_EQ(a.client_public, b.client_public);
  EXPECT_EQ(a.client_secret, b.client_secret);
  for (const auto* k : {&a.server_public, &a.server_secret, &a.client_public, &a.client_secret})
    EXPECT_EQ(k->size(), 40u);
  EXPECT_NE(a.server_secret, a.client_secret);
  // Secret keys are SHA-256 of label + secret (so another implementation can derive the same).
  const std::string server_in = "grpo curve server v1" + kSecret, client_in = "grpo curve client v1" + kSecret;
  EXPECT_EQ(z85_to_hex(a.server_secret), sha256_hex(server_in.data(), server_in.size()));
  EXPECT_EQ(z85_to_hex(a.client_secret), sha256_hex(client_in.data(), client_in.size()));
  // Public keys are what libzmq computes from the secret ones.
  EXPECT_EQ(a.server_public, public_of(a.server_secret));
  EXPECT_EQ(a.client_public, public_of(a.client_secret));
  // Another secret gives other keys.
  const CurveKeys c = curve_keys_from_secret(kOtherSecret);
  EXPECT_NE(c.server_public, a.server_public);
  EXPECT_NE(c.client_public, a.client_public);
}

TEST(Curve, KeyFileRules) {
  TempDir dir;
  const std::string short_key = dir.write("short", "too-short\n", 0600);
  std::string e = error_of([&] { load_curve_key_file(short_key); });
  EXPECT_NE(e.find(short_key), std::string::npos) << e;
  EXPECT_NE(e.find("at least 32"), std::string::npos) << e;
  EXPECT_NE(e.find("openssl rand -hex 32 > " + short_key + " && chmod 600 " + short_key), std::string::npos) << e;

  const std::string open_key = dir.write("open", kSecret + "\n", 0644);
  e = error_of([&] { load_curve_key_file(open_key); });
  EXPECT_NE(e.find(open_key), std::string::npos) << e;
  EXPECT_NE(e.find("chmod 600 " + open_key), std::string::npos) << e;

  e = error_of([&] { load_curve_key_file(dir.path + "/missing"); });
  EXPECT_NE(e.find(dir.path + "/missing"), std::string::npos) << e;

  // Whitespace around the key is trimmed: `openssl rand -hex 32 > FILE` ends in a newline.
  const std::string good = dir.write("good", "  \n" + kSecret + "\n\n", 0600);
  const CurveKeys k = load_curve_key_file(good);
  EXPECT_EQ(k.server_public, curve_keys_from_secret(kSecret).server_public);
  EXPECT_EQ(k.client_secret, curve_keys_from_secret(kSecret).client_secret);
}

TEST(Curve, HubAndWorkerWithTheSameSecretTalk) {
  const CurveKeys keys = curve_keys_from_secret(kSecret);
  Hub hub("tcp://127.0.0.1:*", 64, process_context(), keys);
  WorkerLink worker(hub.endpoint(), "rollout-0.0", 64, process_context(), keys);
  ASSERT_TRUE(worker.send(Control{"hello", {{"rank", 0}}}, 2s));
  auto in = hub.receive(5s);
  ASSERT_TRUE(in.has_value()) << "a worker with the right key was not heard";
  EXPECT_EQ(in->peer, "rollout-0.0");
  EXPECT_EQ(std::get<Control>(in->envelope).kind, "hello");
  ASSERT_TRUE(hub.send("rollout-0.0", Control{"welcome", {{"steps", 3}}}, 2s));
  auto reply = worker.receive(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(std::get<Control>(*reply).body["steps"], 3);
}

// A client that knows the server's public key (it is not secret) but not the shared secret:
// the handshake reaches ZAP, which answers 400.
TEST(Curve, AWrongClientKeyIsRefusedByZap) {
  const CurveKeys keys = curve_keys_from_secret(kSecret);
  CurveKeys intruder = curve_keys_from_secret(kOtherSecret);
  intruder.server_public = keys.server_public;
  Hub hub("tcp://127.0.0.1:*", 64, process_context(), keys);
  const size_t before = curve_refused();
  WorkerLink worker(hub.endpoint(), "intruder", 64, process_context(), intruder);
  // The API does not tell the client: the message is queued on the unconnected pipe.
  EXPECT_TRUE(worker.send(Control{"hello", {{"rank", 0}}}, 1s));
  EXPECT_FALSE(hub.receive(1s).has_value()) << "a message from an unknown client key was delivered";
  EXPECT_EQ(hub.malformed(), 0u) << "something arrived (and was dropped as malformed)";
  EXPECT_TRUE(refused_grows(before));
  EXPECT_FALSE(worker.receive(100ms).has_value());
}

// A client from another run (other secret): its HELLO does not decrypt, ZAP is never asked; the
// socket monitor counts it.
TEST(Curve, AnotherSecretIsRefused) {
  Hub hub("tcp://127.0.0.1:*", 64, process_context(), curve_keys_from_secret(kSecret));
  const size_t before = curve_refused();
  WorkerLink worker(hub.endpoint(), "other-run", 64, process_context(), curve_keys_from_secret(kOtherSecret));
  EXPECT_TRUE(worker.send(Control{"hello", {{"rank", 0}}}, 1s));
  EXPECT_FALSE(hub.receive(1s).has_value()) << "a message from another secret was delivered";
  EXPECT_EQ(hub.malformed(), 0u) << "something arrived (and was dropped as malformed)";
  EXPECT_TRUE(refused_grows(before));
}

TEST(Curve, APlainWorkerIsRefused) {
  Hub hub("tcp://127.0.0.1:*", 64, process_context(), curve_keys_from_secret(kSecret));
  const size_t before = curve_refused();
  WorkerLink plain(hub.endpoint(), "plain");
  EXPECT_TRUE(plain.send(Control{"hello", {{"rank", 0}}}, 1s));
  EXPECT_FALSE(hub.receive(1s).has_value()) << "a plain (unencrypted) message was delivered";
  EXPECT_EQ(hub.malformed(), 0u) << "something arrived (and was dropped as malformed)";
  EXPECT_TRUE(refused_grows(before));
}

// The ZAP handler lives in process_context(); plain sockets there (no ZAP domain) must not be
// affected by it.
TEST(Curve, PlainSocketsStillWorkNextToACurveServer) {
  Hub curve_hub("tcp://127.0.0.1:*", 64, process_context(), curve_keys_from_secret(kSecret));
  Hub plain_hub("tcp://127.0.0.1:*");
  WorkerLink plain(plain_hub.endpoint(), "plain");
  ASSERT_TRUE(plain.send(Control{"hello", {{"rank", 0}}}, 1s));
  EXPECT_TRUE(plain_hub.receive(5s).has_value());
}

// The handler stops with its last server and starts again with the next one: a hub made after
// the first is gone still refuses a wrong key and accepts the right one. Two CURVE servers alive
// together each accept their own client and not the other's (one ZAP domain per socket).
TEST(Curve, TheZapHandlerFollowsItsServers) {
  const CurveKeys keys = curve_keys_from_secret(kSecret), other = curve_keys_from_secret(kOtherSecret);
  { Hub first("tcp://127.0.0.1:*", 64, process_context(), keys); }
  Hub hub("tcp://127.0.0.1:*", 64, process_context(), keys);
  Hub second("tcp://127.0.0.1:*", 64, process_context(), other);
  CurveKeys intruder = other;
  intruder.server_public = keys.server_public;
  WorkerLink bad(hub.endpoint(), "intruder", 64, process_context(), intruder);
  WorkerLink good(hub.endpoint(), "good", 64, process_context(), keys);
  WorkerLink good_second(second.endpoint(), "good-second", 64, process_context(), other);
  ASSERT_TRUE(bad.send(Control{"hello", {{"who", "bad"}}}, 1s));
  ASSERT_TRUE(good.send(Control{"hello", {{"who", "good"}}}, 1s));
  ASSERT_TRUE(good_second.send(Control{"hello", {{"who", "good-second"}}}, 1s));
  auto in = hub.receive(5s);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "good");
  auto in2 = second.receive(5s);
  ASSERT_TRUE(in2.has_value());
  EXPECT_EQ(in2->peer, "good-second");
  // "intruder" holds the client key that `second` allows, and `hub`'s server key: `hub` refuses it.
  EXPECT_FALSE(hub.receive(1s).has_value()) << "one server admitted another server's client key";
  EXPECT_EQ(hub.malformed(), 0u) << "something arrived (and was dropped as malformed)";
}

// Why the handler must be bound before any CURVE server binds: libzmq 4.3 lets every client in
// when no ZAP handler answers (runtime.md §3.5 "assumption to test"). A fresh context has none.
TEST(Curve, WithoutAZapHandlerLibzmqAcceptsAnyClientKey) {
  zmq::context_t bare(1);
  const CurveKeys keys = curve_keys_from_secret(kSecret);
  CurveKeys intruder = curve_keys_from_secret(kOtherSecret);
  intruder.server_public = keys.server_public;
  zmq::socket_t server(bare, zmq::socket_type::router);
  server.set(zmq::sockopt::linger, 0);
  server.set(zmq::sockopt::curve_server, true);
  server.set(zmq::sockopt::curve_secretkey, keys.server_secret);
  server.bind("tcp://127.0.0.1:*");
  zmq::socket_t client(bare, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  apply_curve_client(client, intruder);
  client.connect(server.get(zmq::sockopt::last_endpoint));
  client.send(zmq::str_buffer("in"), zmq::send_flags::none);
  server.set(zmq::sockopt::rcvtimeo, 5000);
  zmq::message_t id, body;
  EXPECT_TRUE(server.recv(id).has_value()) << "libzmq now refuses without ZAP: the guard is belt and braces";
}

TEST(Curve, WeightsTransferWithTheSameSecret) {
  WeightSyncOptions o;
  o.bucket_bytes = 1000;
  o.curve = curve_keys_from_secret(kSecret);
  WeightPublisher pub("tcp://127.0.0.1:*", o);
  WeightSubscriber sub(pub.endpoint(), o);
  const WeightBlob want = small_blob(4);
  pub.publish(want);
  auto got = sub.fetch_newer(0, 10s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->version, 4u);
  EXPECT_EQ(got->sha256, sha256_hex(want.data.data(), want.data.size()));
  EXPECT_TRUE(got->data == want.data);  // bit-identical
}

TEST(Curve, AWeightSubscriberWithAnotherSecretGetsNothing) {
  WeightSyncOptions o;
  o.curve = curve_keys_from_secret(kSecret);
  WeightPublisher pub("tcp://127.0.0.1:*", o);
  pub.publish(small_blob(1));
  const size_t before = curve_refused();
  for (const bool plain : {false, true}) {
    WeightSyncOptions s;
    if (!plain) s.curve = curve_keys_from_secret(kOtherSecret);
    WeightSubscriber sub(pub.endpoint(), s);
    // An unreachable publisher is a timeout, not an error (weight_sync.h): nullopt.
    EXPECT_FALSE(sub.fetch_newer(0, 1s).has_value()) << (plain ? "plain" : "other secret");
    // Asking again: libzmq may have dropped the refused connection's queue (it does for the plain
    // client), and then the request cannot even be queued: an error that names the key.
    try {
      EXPECT_FALSE(sub.fetch_newer(0, 200ms).has_value());
    } catch (const WeightSyncError& e) {
      EXPECT_NE(std::string(e.what()).find("CURVE key"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(refused_grows(before));
  EXPECT_EQ(pub.stats().asks, 0u) << "the publisher answered an unknown peer";
}
