#include "actor/transport/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <zmq_addon.hpp>

#include "common/error.h"
#include "common/hex.h"
#include "common/sha256.h"

namespace grpo::actor {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";       // fixed by RFC 27 and libzmq
constexpr auto kPollInterval = std::chrono::milliseconds(100);  // how soon a stop request is seen

std::atomic<size_t> g_refused{0};

std::string z85_encode_key(const std::vector<uint8_t>& raw32) {
  GRPO_CHECK(raw32.size() == 32, "a CURVE key has 32 bytes");
  char text[41];
  GRPO_CHECK(zmq_z85_encode(text, raw32.data(), 32) != nullptr, "zmq_z85_encode failed");
  return std::string(text, 40);
}

std::string z85_decode_key(const std::string& z85) {
  GRPO_CHECK(z85.size() == 40, "a Z85 CURVE key has 40 characters");
  std::string raw(32, '\0');
  GRPO_CHECK(zmq_z85_decode(reinterpret_cast<uint8_t*>(raw.data()), z85.c_str()) != nullptr, "zmq_z85_decode failed");
  return raw;
}

// The key pair whose secret is SHA-256(label + secret).
std::pair<std::string, std::string> derive_pair(const std::string& label, const std::string& secret) {
  const std::string input = label + secret;
  const std::string secret_z85 = z85_encode_key(hex_to_bytes(sha256_hex(input.data(), input.size())));
  char public_z85[41];
  GRPO_CHECK(zmq_curve_public(public_z85, secret_z85.c_str()) == 0,
             std::string("zmq_curve_public failed: ") + zmq_strerror(zmq_errno()) + " (is libzmq built with CURVE?)");
  return {std::string(public_z85, 40), secret_z85};
}

// One multipart message from `socket` if one comes within kPollInterval. When the context is
// being terminated (a process exiting with a server still open) the socket is closed here, so
// the thread ends and zmq_ctx_term is not kept waiting by it.
bool poll_receive(zmq::socket_t& socket, std::vector<zmq::message_t>& parts) {
  if (!socket) {  // closed after ETERM: wait for the owner's stop request
    std::this_thread::sleep_for(kPollInterval);
    return false;
  }
  try {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, kPollInterval);
    if (!(item.revents & ZMQ_POLLIN)) return false;
    return zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) socket.close();
    return false;
  }
}

// The ZAP handler of one context: a REP socket at kZapEndpoint answering every handshake of
// every CURVE server in that context. 200 for mechanism CURVE with an allowed client key, 400
// for anything else. Every server socket has its own ZAP domain ("grpo/N"), and the handler
// allows per domain, so two servers with different secrets never admit each other's clients.
class ZapHandler {
 public:
  explicit ZapHandler(zmq::context_t& context) : rep_(context, zmq::socket_type::rep) {
    rep_.set(zmq::sockopt::linger, 0);
    // The previous handler of this context unbinds before closing (see the destructor), so the
    // endpoint is free; a retry covers a close that libzmq has not finished yet.
    for (int attempt = 0;; ++attempt) {
      try {
        rep_.bind(kZapEndpoint);
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() != EADDRINUSE || attempt >= 100)
          throw Error(std::string("CURVE: cannot bind the ZAP handler at ") + kZapEndpoint + ": " + e.what() +
                      " (another ZAP handler in this process's ZeroMQ context?)");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    thread_ = std::thread([this] { serve(); });
  }

  ~ZapHandler() {
    stop_ = true;
    thread_.join();
    try {
      rep_.unbind(kZapEndpoint);  // synchronous for inproc, unlike close
    } catch (const zmq::error_t&) {
    }
    rep_.close();
  }

  // False once its context was terminated (the socket closed itself on ETERM): a new context at
  // the same address must get a new handler, or its servers would run without ZAP (fail open).
  bool alive() const { return !terminated_; }

  void allow(const std::string& domain, const std::string& raw_key) {
    std::lock_guard<std::mutex> lock(mu_);
    allowed_[domain] = raw_key;
  }
  void disallow(const std::string& domain) {
    std::lock_guard<std::mutex> lock(mu_);
    allowed_.erase(domain);
  }

 private:
  bool is_allowed(const std::string& domain, const std::string& raw_key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = allowed_.find(domain);
    return it != allowed_.end() && it->second == raw_key;
  }

  void serve() {
    while (!stop_) {
      std::vector<zmq::message_t> request;
      if (!poll_receive(rep_, request)) {
        if (!rep_) terminated_ = true;
        continue;
      }
      // Request (RFC 27): version, request id, domain, address, routing id, mechanism, credentials...
      const bool well_formed = request.size() >= 6 && request[0].to_string() == "1.0";
      const std::string request_id = request.size() >= 2 ? request[1].to_string() : "";
      const bool ok = well_formed && request[5].to_string() == "CURVE" && request.size() == 7 &&
                      request[6].size() == 32 && is_allowed(request[2].to_string(), request[6].to_string());
      if (!ok) ++g_refused;
      // Reply: version, request id, status code, status text, user id, metadata.
      std::vector<zmq::const_buffer> reply = {zmq::str_buffer("1.0"),
                                              zmq::buffer(request_id),
                                              ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
                                              ok ? zmq::str_buffer("OK") : zmq::str_buffer("client key not allowed"),
                                              zmq::str_buffer(""),
                                              zmq::str_buffer("")};
      try {
        zmq::send_multipart(rep_, reply);
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) rep_.close();
      }
    }
  }

  zmq::socket_t rep_;
  std::mutex mu_;
  std::map<std::string, std::string> allowed_;  // ZAP domain -> the raw client key it accepts
  std::atomic<bool> stop_{false};
  std::atomic<bool> terminated_{false};
  std::thread thread_;
};

// One ZAP handler per context, alive while any CURVE server socket of that context is: every
// lease holds the handler it allowed its key on, the registry only finds it. A handler whose
// context was terminated is never handed out again, even when a new context gets its address.
struct Registry {
  std::mutex mu;
  std::map<void*, std::weak_ptr<ZapHandler>> by_context;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

struct CurveServerGuard::ZapLease {
  std::shared_ptr<ZapHandler> handler;
  std::string domain;

  ZapLease(zmq::context_t& c, std::string d, const std::string& raw_key) : domain(std::move(d)) {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto& slot = r.by_context[c.handle()];
    handler = slot.lock();
    if (!handler || !handler->alive()) {
      handler = std::make_shared<ZapHandler>(c);
      slot = handler;
    }
    handler->allow(domain, raw_key);
  }
  ~ZapLease() {
    handler->disallow(domain);
    std::lock_guard<std::mutex> lock(registry().mu);
    handler.reset();  // the last lease of a context joins the thread, unbinds and closes, under the lock
  }
};

bool curve_available() { return zmq_has("curve") == 1; }

CurveKeys curve_keys_from_secret(const std::string& secret) {
  if (!curve_available())
    throw Error("CURVE: this libzmq is built without CURVE (zmq_has(\"curve\") is 0); install a libzmq with libsodium");
  CurveKeys k;
  std::tie(k.server_public, k.server_secret) = derive_pair("grpo curve server v1", secret);
  std::tie(k.client_public, k.client_secret) = derive_pair("grpo curve client v1", secret);
  return k;
}

CurveKeys load_curve_key_file(const std::string& path) {
  const std::string fix = " (create one with `openssl rand -hex 32 > " + path + " && chmod 600 " + path + "`)";
  // One descriptor for the mode check and the read, so the file checked is the file read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, "", std::string("cannot read the CURVE key file: ") + std::strerror(errno) + fix);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw file_error(path, "", "cannot stat the CURVE key file: " + why);
  }
  if (st.st_mode & 077) {
    ::close(fd);
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    throw file_error(
        path, "",
        "the CURVE key file is readable by group or others (mode " + mode.str() + "); run `chmod 600 " + path + "`");
  }
  std::string secret;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) secret.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const char* space = " \t\r\n\v\f";
  const auto first = secret.find_first_not_of(space);
  secret = first == std::string::npos ? "" : secret.substr(first, secret.find_last_not_of(space) - first + 1);
  if (secret.size() < 32)
    throw file_error(path, "",
                     "the CURVE key has " + std::to_string(secret.size()) +
                         " characters after trimming whitespace, at least 32 are needed" + fix);
  return curve_keys_from_secret(secret);
}

size_t curve_refused() { return g_refused.load(); }

CurveServerGuard::CurveServerGuard(zmq::socket_t& socket, zmq::context_t& context, const CurveKeys& keys)
    : monitor_(context, zmq::socket_type::pair) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter++;
  const std::string domain = "grpo/" + std::to_string(n);
  zap_ = std::make_shared<ZapLease>(context, domain, z85_decode_key(keys.client_public));
  // Handshakes that never reach ZAP (wrong server key, plain client) are seen by a monitor.
  const std::string endpoint = "inproc://grpo-curve-monitor-" + std::to_string(n);
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
    throw Error(std::string("CURVE: cannot monitor the server socket: ") + zmq_strerror(zmq_errno()));
  monitor_.set(zmq::sockopt::linger, 0);
  monitor_.connect(endpoint);
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, keys.server_secret);
  // The domain names this socket to the handler (and makes ZAP required for it even where the
  // draft zap_enforce_domain option exists and is on).
  socket.set(zmq::sockopt::zap_domain, domain);
  thread_ = std::thread([this] {
    while (!stop_) {
      std::vector<zmq::message_t> event;  // [u16 event, u32 value][endpoint]
      if (!poll_receive(monitor_, event) || event.empty()) continue;
      uint16_t id = 0;
      if (event[0].size() >= 2) std::memcpy(&id, event[0].data(), 2);
      if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) ++g_refused;
    }
  });
}

CurveServerGuard::~CurveServerGuard() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  monitor_.close();
}

void apply_curve_client(zmq::socket_t& socket, const CurveKeys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
  socket.set(zmq::sockopt::curve_publickey, keys.client_public);
  socket.set(zmq::sockopt::curve_secretkey, keys.client_secret);
}

}  // namespace grpo::actor
