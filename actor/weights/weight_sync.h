// Weight publication on CPU: the learner publishes a version of its weights (one flat byte
// buffer plus a tensor table), rollout workers pull the newest one over ZeroMQ or shared memory
// (docs/weight_sync.md). No LibTorch here: model/weight_blob.h converts to and from tensors.
//
// Pull protocol (subscriber DEALER -> publisher ROUTER, served by the publisher's own thread so a
// slow or dead subscriber never blocks training):
//   ASK(have)          -> ANNOUNCE(version, format, table, sha256, sizes, transport) | NONE
//   FETCH(version, i)  -> BUCKET(version, i) + the bucket's bytes (zero-copy from the blob)
//                       | GONE (the version is no longer held: ask again)
// The subscriber keeps a few FETCHes in flight (credit-based flow control, so the publisher never
// queues more than that per peer), reassembles the buffer and checks its SHA-256 before it hands
// the version out. A late-joining or restarted worker simply asks and gets the newest version.
// With transport "shm" the buffer is not sent: the publisher writes it once into a POSIX shared
// memory segment named in the announcement and the subscriber maps it (same host only).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "actor/transport/channel.h"
#include "actor/transport/curve.h"
#include "common/error.h"
#include "common/sha256.h"
#include "common/weight_blob.h"

namespace grpo::actor {

struct WeightSyncOptions {
  // Chunk size on the wire (one FETCH/BUCKET round trip each). 16 MiB stays under glibc's
  // largest mmap threshold (32 MiB), so the receiver's per-bucket buffers are reused heap memory
  // instead of fresh pages that fault in on every bucket.
  size_t bucket_bytes = 16u << 20;
  int window = 4;                 // buckets a subscriber keeps in flight
  std::string transport = "zmq";  // publisher: "zmq" (buckets on the socket) | "shm" (shared memory)
  // Publisher: a peer that has not asked for anything in this long loses its pinned version
  // (a subscriber that died mid-transfer). Subscriber: nothing.
  std::chrono::milliseconds peer_expiry{30000};
  bool verify_sha256 = true;  // subscriber: check the hash (tests and benchmarks may switch it off)
  // Shared-key mode (actor/transport/curve.h): the publisher's ROUTER is a CURVE server that accepts only
  // curve->client_public, the subscriber's DEALER a CURVE client. A subscriber with the wrong key
  // gets nothing: fetch_newer returns nullopt after its timeout, and once libzmq has dropped the
  // refused connection it throws WeightSyncError at once ("... refused this worker's CURVE key").
  std::optional<CurveKeys> curve;
};

// A version arrived but is wrong (hash mismatch, short bucket, bad table): what() names the
// version and the mismatch. The subscriber never returns such a blob.
class WeightSyncError : public WeightBlobError {
 public:
  using WeightBlobError::WeightBlobError;
};

// Learner side. Binds `address` (inproc://, ipc://, tcp://host:port or tcp://127.0.0.1:*) and
// serves the newest published version from its own thread until destroyed.
class WeightPublisher {
 public:
  WeightPublisher(const std::string& address, const WeightSyncOptions& options = {},
                  zmq::context_t& context = process_context());
  ~WeightPublisher();
  WeightPublisher(const WeightPublisher&) = delete;
  WeightPublisher& operator=(const WeightPublisher&) = delete;

  // Makes `blob` the newest version (its version must be larger than the current one). Fills
  // blob.sha256 when empty. Thread-safe; returns without waiting for any subscriber. Returns the
  // blob as held (with transport "shm" its data is in the segment, and `data` is empty): another
  // sender of the same bytes (NCCL) can keep it alive instead of copying it.
  std::shared_ptr<const WeightBlob> publish(WeightBlob blob);
  // The bound endpoint with the port resolved (give it to subscribers).
  std::string endpoint() const { return endpoint_; }
  uint64_t version() const;  // newest published version, 0 before the first

  struct Stats {
    uint64_t asks = 0;           // ASK requests answered
    uint64_t buckets_sent = 0;   // BUCKET replies queued
    uint64_t bytes_sent = 0;     // payload bytes queued in BUCKET replies
    uint64_t dropped = 0;        // replies the socket refused (peer gone or at its HWM) + malformed requests
    uint64_t expired_peers = 0;  // peers forgotten after peer_expiry
  };
  Stats stats() const;

  // Test hook: flip one byte of every BUCKET sent from now on (the blob itself stays intact),
  // to show a corrupted transfer gives an error and not wrong weights.
  void corrupt_buckets_for_testing(bool on) { corrupt_ = on; }

 private:
  struct State;
  void serve();
  std::unique_ptr<State> state_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> corrupt_{false};
  std::thread thread_;
};

// Rollout side. Connects to a publisher's endpoint.
class WeightSubscriber {
 public:
  WeightSubscriber(const std::string& address, const WeightSyncOptions& options = {},
                   zmq::context_t& context = process_context());
  ~WeightSubscriber();
  WeightSubscriber(const WeightSubscriber&) = delete;
  WeightSubscriber& operator=(const WeightSubscriber&) = delete;

  // The newest version > have_version, complete and SHA-256 verified; nullopt when the publisher
  // has nothing newer or does not answer within `timeout` (an unreachable publisher is a
  // timeout, not an error). `timeout` bounds each wait for the publisher, not the whole transfer:
  // a large version keeps coming as long as every bucket arrives within `timeout` of the last.
  // Throws WeightSyncError when a version arrived wrong. Not thread-safe: one caller.
  // `recycle`: a blob the caller is done with (the previous version); its buffer is reused, which
  // saves the page faults of a fresh allocation (measurable at hundreds of MB).
  std::optional<WeightBlob> fetch_newer(uint64_t have_version, std::chrono::milliseconds timeout,
                                        WeightBlob* recycle = nullptr);

  // Test hook: stop reading after `buckets` buckets of the next transfer and return nullopt, as a
  // worker that dies mid-transfer would (the publisher must keep serving others).
  void abandon_after_for_testing(int buckets) { abandon_after_ = buckets; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int abandon_after_ = -1;
};

}  // namespace grpo::actor
