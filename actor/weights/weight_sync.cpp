#include "actor/weights/weight_sync.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <zmq_addon.hpp>

#include "actor/transport/shm_segment.h"
#include "common/hex.h"
#include "common/sha256.h"

namespace grpo::actor {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Frame 0 of every weight-sync message: "GRPW" | type (u8) | CBOR metadata. A BUCKET has the
// bucket's bytes as frame 1.
constexpr char kMagic[4] = {'G', 'R', 'P', 'W'};
enum class Kind : uint8_t { kAsk = 1, kAnnounce = 2, kNone = 3, kFetch = 4, kBucket = 5, kGone = 6 };

zmq::message_t header(Kind kind, const json& meta) {
  const std::vector<uint8_t> cbor = json::to_cbor(meta);
  zmq::message_t m(5 + cbor.size());
  auto* p = static_cast<char*>(m.data());
  std::memcpy(p, kMagic, 4);
  p[4] = static_cast<char>(kind);
  if (!cbor.empty()) std::memcpy(p + 5, cbor.data(), cbor.size());
  return m;
}

// Parses frame 0; nullopt for anything that is not a well-formed weight-sync header (dropped).
std::optional<std::pair<Kind, json>> parse_header(const zmq::message_t& m) {
  if (m.size() < 5 || std::memcmp(m.data(), kMagic, 4) != 0) return std::nullopt;
  const auto* p = static_cast<const uint8_t*>(m.data());
  const auto kind = static_cast<Kind>(p[4]);
  if (p[4] < 1 || p[4] > 6) return std::nullopt;
  json meta = json::from_cbor(p + 5, p + m.size(), /*strict=*/true, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object()) return std::nullopt;
  return std::make_pair(kind, std::move(meta));
}

uint64_t u64(const json& meta, const char* key) {
  auto it = meta.find(key);
  if (it == meta.end() || !it->is_number_unsigned())
    throw WeightSyncError(std::string("weight sync: field \"") + key + "\" missing or not an unsigned number");
  return it->get<uint64_t>();
}

uint64_t bucket_count(uint64_t total, uint64_t bucket) { return total == 0 ? 0 : (total + bucket - 1) / bucket; }

std::string fresh_shm_name(uint64_t version) {
  static std::atomic<uint64_t> counter{0};
  return "/grpo-weights-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-v" +
         std::to_string(version);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Publisher

// A version as the publisher holds it: the blob (whose data is empty with shm) and, with shm,
// the segment that holds the bytes. Shared with in-flight zero-copy frames and pinned peers.
struct Held {
  WeightBlob blob;  // table, sha256, format, version; data unless shm
  uint64_t total_bytes = 0;
  std::unique_ptr<ShmSegment> shm;
  const uint8_t* bytes() const { return shm ? shm->data() : blob.data.data(); }
};

struct WeightPublisher::State {
  WeightSyncOptions options;
  std::unique_ptr<CurveServerGuard> curve;  // before router: outlives it (see CurveServerGuard)
  zmq::socket_t router;
  mutable std::mutex mu;  // guards newest and stats
  std::shared_ptr<const Held> newest;
  Stats stats;
  // Serving thread only: the version each peer was announced, kept until it finishes or expires,
  // so a slow peer completes the version it started even when a newer one is published.
  struct Peer {
    std::shared_ptr<const Held> pinned;
    Clock::time_point last_seen;
  };
  std::map<std::string, Peer> peers;

  State(zmq::context_t& context, const WeightSyncOptions& o) : options(o), router(context, zmq::socket_type::router) {}
};

WeightPublisher::WeightPublisher(const std::string& address, const WeightSyncOptions& options, zmq::context_t& context)
    : state_(std::make_unique<State>(context, options)) {
  GRPO_CHECK(options.bucket_bytes > 0, "WeightSyncOptions.bucket_bytes must be positive");
  if (options.transport != "zmq" && options.transport != "shm")
    throw Error("weight sync: transport \"" + options.transport + "\" is not one of \"zmq\", \"shm\"");
  auto& s = state_->router;
  // Refuse (EHOSTUNREACH/EAGAIN) instead of silently dropping replies to a gone or full peer,
  // so the serving thread counts them and never blocks.
  s.set(zmq::sockopt::router_mandatory, 1);
  s.set(zmq::sockopt::sndhwm, 1000);
  s.set(zmq::sockopt::rcvhwm, 1000);
  s.set(zmq::sockopt::linger, 0);
  if (options.curve) state_->curve = std::make_unique<CurveServerGuard>(s, context, *options.curve);
  try {
    s.bind(address);
  } catch (const zmq::error_t& e) {
    throw Error("weight publisher: cannot bind " + address + ": " + e.what() +
                " (is the address in use by another run?)");
  }
  endpoint_ = s.get(zmq::sockopt::last_endpoint);
  thread_ = std::thread([this] { serve(); });
}

WeightPublisher::~WeightPublisher() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  state_->router.close();
  // libzmq leaves a bound ipc:// socket file behind; remove ours (not abstract "@" names).
  if (endpoint_.rfind("ipc://", 0) == 0 && endpoint_.size() > 6 && endpoint_[6] != '@') ::unlink(endpoint_.c_str() + 6);
}

std::shared_ptr<const WeightBlob> WeightPublisher::publish(WeightBlob blob) {
  auto refuse_if_not_newer = [&](uint64_t version) {
    const uint64_t current = state_->newest ? state_->newest->blob.version : 0;
    if (state_->newest && version <= current)
      throw Error("weight publisher: version " + std::to_string(version) + " is not newer than the published " +
                  std::to_string(current) + " (versions must increase)");
  };
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    refuse_if_not_newer(blob.version);  // before hashing and copying anything
  }
  auto held = std::make_shared<Held>();
  if (blob.sha256.empty()) blob.sha256 = sha256_hex(blob.data.data(), blob.data.size());
  held->total_bytes = blob.data.size();
  if (state_->options.transport == "shm") {
    held->shm = std::make_unique<ShmSegment>(ShmSegment::create(fresh_shm_name(blob.version), blob.data.size()));
    if (!blob.data.empty()) std::memcpy(held->shm->data(), blob.data.data(), blob.data.size());
    std::vector<uint8_t>().swap(blob.data);  // the segment holds the bytes now
  }
  held->blob = std::move(blob);
  std::lock_guard<std::mutex> lock(state_->mu);
  refuse_if_not_newer(held->blob.version);  // again: another thread may have published meanwhile
  state_->newest = held;
  return std::shared_ptr<const WeightBlob>(held, &held->blob);  // shares the Held's lifetime
}

uint64_t WeightPublisher::version() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->newest ? state_->newest->blob.version : 0;
}

WeightPublisher::Stats WeightPublisher::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

void WeightPublisher::serve() {
  auto& st = *state_;
  auto& sock = st.router;
  auto last_sweep = Clock::now();

  // Sends [identity, parts...] without blocking; false when the socket refuses (peer gone/full).
  auto reply = [&](const std::string& peer, std::vector<zmq::message_t>& parts) {
    try {
      if (!sock.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
      for (size_t i = 0; i < parts.size(); ++i) {
        auto flags =
            zmq::send_flags::dontwait | (i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        // After the identity frame is accepted the rest of the message is queued atomically.
        sock.send(parts[i], flags);
      }
      return true;
    } catch (const zmq::error_t&) {  // EHOSTUNREACH: the peer disconnected
      return false;
    }
  };
  auto count_drop = [&] {
    std::lock_guard<std::mutex> lock(st.mu);
    ++st.stats.dropped;
  };

  while (!stop_) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    const auto now = Clock::now();
    if (now - last_sweep > std::chrono::seconds(1)) {
      last_sweep = now;
      for (auto it = st.peers.begin(); it != st.peers.end();) {
        if (now - it->second.last_seen > st.options.peer_expiry) {
          it = st.peers.erase(it);
          std::lock_guard<std::mutex> lock(st.mu);
          ++st.stats.expired_peers;
        } else {
          ++it;
        }
      }
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;

    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait)) continue;
    if (parts.size() != 2) {  // identity + header; anything else is not ours
      count_drop();
      continue;
    }
    const std::string peer = parts[0].to_string();
    auto parsed = parse_header(parts[1]);
    if (!parsed) {
      count_drop();
      continue;
    }
    auto& [kind, meta] = *parsed;
    try {
      const uint64_t rid = u64(meta, "rid");
      auto& p = st.peers[peer];
      p.last_seen = now;
      std::vector<zmq::message_t> out;
      if (kind == Kind::kAsk) {
        const uint64_t have = u64(meta, "have");
        std::shared_ptr<const Held> newest;
        {
          std::lock_guard<std::mutex> lock(st.mu);
          newest = st.newest;
          ++st.stats.asks;
        }
        if (newest && newest->blob.version > have) {
          p.pinned = newest;
          const auto& b = newest->blob;
          json a = {{"rid", rid},
                    {"version", b.version},
                    {"format", b.format},
                    {"sha256", b.sha256},
                    {"total_bytes", newest->total_bytes},
                    {"bucket_bytes", static_cast<uint64_t>(st.options.bucket_bytes)},
                    {"table", b.table},
                    {"transport", newest->shm ? "shm:" + newest->shm->name() : std::string("zmq")}};
          out.push_back(header(Kind::kAnnounce, a));
        } else {
          out.push_back(header(Kind::kNone, {{"rid", rid}, {"newest", newest ? newest->blob.version : 0}}));
        }
      } else if (kind == Kind::kFetch) {
        const uint64_t version = u64(meta, "version"), index = u64(meta, "index");
        std::shared_ptr<const Held> held = p.pinned;
        if (!held || held->blob.version != version || held->shm) {
          out.push_back(header(Kind::kGone, {{"rid", rid}, {"version", version}}));
        } else {
          const uint64_t bucket = st.options.bucket_bytes;
          const uint64_t n = bucket_count(held->total_bytes, bucket);
          if (index >= n) throw WeightSyncError("bucket index " + std::to_string(index) + " out of range");
          const uint64_t offset = index * bucket, len = std::min(bucket, held->total_bytes - offset);
          out.push_back(header(Kind::kBucket, {{"rid", rid}, {"version", version}, {"index", index}}));
          if (corrupt_) {
            zmq::message_t copy(held->bytes() + offset, len);
            if (len) static_cast<uint8_t*>(copy.data())[len / 2] ^= 0x5A;
            out.push_back(std::move(copy));
          } else {
            // Zero-copy: the frame points into the held version, which stays alive until ZeroMQ's
            // I/O thread has sent it (the free function drops this extra reference).
            auto* keep = new std::shared_ptr<const Held>(held);
            out.emplace_back(
                const_cast<uint8_t*>(held->bytes() + offset), len,
                [](void*, void* hint) { delete static_cast<std::shared_ptr<const Held>*>(hint); }, keep);
          }
          if (index + 1 == n) p.pinned.reset();  // the peer has asked for everything
          std::lock_guard<std::mutex> lock(st.mu);
          ++st.stats.buckets_sent;
          st.stats.bytes_sent += len;
        }
      } else {
        count_drop();  // only subscribers' requests are expected here
        continue;
      }
      if (!reply(peer, out)) {
        count_drop();
        st.peers.erase(peer);
      }
    } catch (const WeightSyncError&) {
      count_drop();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Subscriber

struct WeightSubscriber::State {
  WeightSyncOptions options;
  std::string address;
  zmq::socket_t dealer;
  uint64_t next_rid;

  State(zmq::context_t& context, const std::string& a, const WeightSyncOptions& o)
      : options(o), address(a), dealer(context, zmq::socket_type::dealer) {
    // Request ids start at a random point so replies meant for an earlier incarnation of this
    // worker (or an abandoned request) are never mistaken for answers to this one.
    std::random_device rd;
    next_rid = (static_cast<uint64_t>(rd()) << 20) ^ rd();
  }

  // The next reply to request `rid` before `deadline`; nullopt on timeout. Other replies are stale.
  std::optional<std::pair<Kind, std::vector<zmq::message_t>>> receive(uint64_t rid, Clock::time_point deadline,
                                                                      json& meta) {
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(dealer, std::back_inserter(parts), zmq::recv_flags::dontwait) || parts.empty()) continue;
      auto parsed = parse_header(parts[0]);
      if (!parsed) continue;
      auto it = parsed->second.find("rid");
      if (it == parsed->second.end() || !it->is_number_unsigned() || it->get<uint64_t>() != rid) continue;
      meta = std::move(parsed->second);
      return std::make_pair(parsed->first, std::move(parts));
    }
  }

  void send(Kind kind, const json& meta) {
    auto m = header(kind, meta);
    // DEALER queues to a connecting peer; a full queue means the publisher is not reading. A
    // connection whose handshake was refused (wrong CURVE key, or plain vs CURVE) loses its
    // queue for good, which also lands here.
    if (!dealer.send(m, zmq::send_flags::dontwait))
      throw WeightSyncError("weight subscriber: the request queue to " + address +
                            " is full or closed (publisher not reading, or it refused this worker's CURVE key: "
                            "every host must read the same key file)");
  }
};

WeightSubscriber::WeightSubscriber(const std::string& address, const WeightSyncOptions& options,
                                   zmq::context_t& context)
    : state_(std::make_unique<State>(context, address, options)) {
  auto& s = state_->dealer;
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::rcvhwm, 0);  // replies are bounded by the window; never drop one
  s.set(zmq::sockopt::sndhwm, 1000);
  if (options.curve) apply_curve_client(s, *options.curve);
  try {
    s.connect(address);
  } catch (const zmq::error_t& e) {
    throw Error("weight subscriber: cannot connect to " + address + ": " + e.what());
  }
}

WeightSubscriber::~WeightSubscriber() = default;

std::optional<WeightBlob> WeightSubscriber::fetch_newer(uint64_t have_version, std::chrono::milliseconds timeout,
                                                        WeightBlob* recycle) {
  auto& st = *state_;
  auto deadline = Clock::now() + timeout;
  // A GONE or a vanished shm segment means the version was replaced meanwhile: ask again.
  uint64_t shm_missing_version = 0;
  while (Clock::now() < deadline) {
    const uint64_t rid = st.next_rid++;
    st.send(Kind::kAsk, {{"rid", rid}, {"have", have_version}});
    json a;
    auto got = st.receive(rid, deadline, a);
    if (!got) return std::nullopt;
    if (got->first == Kind::kNone) return std::nullopt;
    if (got->first != Kind::kAnnounce) continue;
    deadline = Clock::now() + timeout;

    WeightBlob blob;
    if (recycle) {
      blob.data.swap(recycle->data);  // keeps the capacity (touched pages), not the contents
      blob.data.clear();
    }
    blob.version = u64(a, "version");
    const std::string where = "weight version " + std::to_string(blob.version);
    if (blob.version <= have_version)
      throw WeightSyncError(where + ": announced although not newer than " + std::to_string(have_version));
    const uint64_t total = u64(a, "total_bytes"), bucket = u64(a, "bucket_bytes");
    if (!a.contains("format") || !a["format"].is_string() || !a.contains("sha256") || !a["sha256"].is_string() ||
        !a.contains("table") || !a["table"].is_array() || !a.contains("transport") || !a["transport"].is_string())
      throw WeightSyncError(where + ": announcement lacks format, sha256, table or transport");
    blob.format = a["format"].get<std::string>();
    blob.sha256 = a["sha256"].get<std::string>();
    blob.table = std::move(a["table"]);
    const std::string transport = a["transport"].get<std::string>();
    std::optional<Sha256> hasher;  // zmq: fed bucket by bucket as they arrive

    if (transport.rfind("shm:", 0) == 0) {
      std::optional<ShmSegment> seg;
      try {
        seg.emplace(ShmSegment::open(transport.substr(4)));
      } catch (const Error& e) {
        // Unlinked: a newer version replaced it between the answer and now, so ask again. The
        // same version twice means the segment is not on this host.
        if (shm_missing_version == blob.version)
          throw WeightSyncError(where + ": " + e.what() +
                                " (is this worker on another host than the learner? use weight transport \"zmq\")");
        shm_missing_version = blob.version;
        continue;
      }
      if (seg->size() != total)
        throw WeightSyncError(where + ": shared memory " + seg->name() + " holds " + std::to_string(seg->size()) +
                              " bytes, the announcement says " + std::to_string(total));
      blob.data.assign(seg->data(), seg->data() + total);
    } else {
      if (bucket == 0) throw WeightSyncError(where + ": bucket_bytes is 0");
      const uint64_t n = bucket_count(total, bucket);
      blob.data.reserve(total);
      if (st.options.verify_sha256) hasher.emplace();
      uint64_t asked = 0, received = 0;
      const uint64_t window = static_cast<uint64_t>(std::max(1, st.options.window));
      auto ask_more = [&] {
        for (; asked < n && asked < received + window; ++asked)
          st.send(Kind::kFetch, {{"rid", rid}, {"version", blob.version}, {"index", asked}});
      };
      ask_more();
      bool gone = false;
      while (received < n) {
        if (abandon_after_ >= 0 && received >= static_cast<uint64_t>(abandon_after_)) {
          abandon_after_ = -1;
          return std::nullopt;
        }
        json m;
        auto r = st.receive(rid, deadline, m);
        if (!r) return std::nullopt;
        deadline = Clock::now() + timeout;  // a transfer that keeps making progress is never cut off
        if (r->first == Kind::kGone) {
          gone = true;
          break;
        }
        if (r->first != Kind::kBucket || r->second.size() != 2)
          throw WeightSyncError(where + ": expected bucket " + std::to_string(received) + ", got another reply");
        const uint64_t index = u64(m, "index");
        const uint64_t expect_len = std::min(bucket, total - received * bucket);
        // One DEALER-ROUTER connection keeps order, so buckets arrive in the order asked.
        if (u64(m, "version") != blob.version || index != received || r->second[1].size() != expect_len)
          throw WeightSyncError(where + ": bucket " + std::to_string(index) + " of " + std::to_string(n) + " has " +
                                std::to_string(r->second[1].size()) + " bytes, expected bucket " +
                                std::to_string(received) + " with " + std::to_string(expect_len));
        const auto* p = static_cast<const uint8_t*>(r->second[1].data());
        ++received;
        ask_more();  // keep the window full before spending time on this bucket
        blob.data.insert(blob.data.end(), p, p + r->second[1].size());
        if (hasher) hasher->update(p, r->second[1].size());
      }
      if (gone) continue;
    }
    if (st.options.verify_sha256) {
      const std::string got_hash = hasher ? hasher->hex() : sha256_hex(blob.data.data(), blob.data.size());
      if (got_hash != blob.sha256)
        throw WeightSyncError(where + ": SHA-256 of the received " + std::to_string(blob.data.size()) + " bytes is " +
                              got_hash + ", the publisher announced " + blob.sha256 +
                              " (corrupted transfer; the version is dropped)");
    }
    return blob;
  }
  return std::nullopt;
}

}  // namespace grpo::actor
