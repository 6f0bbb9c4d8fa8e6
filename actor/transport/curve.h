// Shared-key (ZeroMQ CURVE) mode for multi-host runs (issue 8, runtime.md §3.5).
//
// Every rank reads the same secret file and derives the same two key pairs from it: the server
// pair (learner's hub and weight publisher bind with it) and the client pair (every worker
// connects with it). Traffic is encrypted, and a server accepts only the derived client key:
// libzmq asks a ZAP handler (RFC 27, "inproc://zeromq.zap.01" in the server socket's context)
// about every CURVE handshake, and ours answers 200 for that key and 400 for anything else.
//
// libzmq 4.3 accepts every client when no ZAP handler is bound (zap_enforce_domain, which would
// refuse, is a draft option the Debian build lacks). So a server socket acquires the handler
// before it binds and keeps it until it is closed: CurveServerGuard does both.
//
// A refused client is never told so through the API (measured with libzmq 4.3.4): connect()
// succeeds, the first sends are queued and return true, nothing is ever delivered and nothing
// is received; later sends may time out (false) once libzmq has dropped the refused
// connection's queue. A client with the wrong client key (ZAP 400) or no CURVE at all is refused
// once and libzmq does not reconnect it; a client with another secret (wrong server key) is
// reconnected every ~100 ms (reconnect_ivl) and refused each time. The server counts every
// refused handshake (curve_refused()).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <zmq.hpp>

namespace grpo::actor {

// Z85 text keys, 40 characters each.
struct CurveKeys {
  std::string server_public, server_secret, client_public, client_secret;
};

bool curve_available();  // zmq_has("curve")

// Deterministic: every rank that reads the same secret derives the same two key pairs.
// server secret = SHA-256("grpo curve server v1" + secret), client secret = SHA-256("grpo curve
// client v1" + secret); public keys via zmq_curve_public.
CurveKeys curve_keys_from_secret(const std::string& secret);

// Reads a shared-key file: whitespace trimmed, at least 32 characters; refuses a file that group
// or others can read. Errors name the file, what is wrong and the fix.
CurveKeys load_curve_key_file(const std::string& path);

// Number of CURVE handshakes refused by this process's servers: a client with the wrong client
// key (ZAP said 400), a client with the wrong server key (its HELLO does not decrypt) and a
// plain client (mechanism mismatch). For metrics.
size_t curve_refused();

// Server side of one socket. Construct it before bind(): it sets curve_server and the secret
// key, makes sure the context's ZAP handler runs and allows keys.client_public, and watches the
// socket's handshake failures (a monitor) to count refusals. Destroy it after the socket is
// closed (declare it before the socket member), so no handshake is ever answered without ZAP.
class CurveServerGuard {
 public:
  CurveServerGuard(zmq::socket_t& socket, zmq::context_t& context, const CurveKeys& keys);
  ~CurveServerGuard();
  CurveServerGuard(const CurveServerGuard&) = delete;
  CurveServerGuard& operator=(const CurveServerGuard&) = delete;

 private:
  struct ZapLease;
  std::shared_ptr<ZapLease> zap_;
  zmq::socket_t monitor_;  // PAIR end of the socket's monitor: handshake failures
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Client side of one socket, before connect(): its key pair and the server's public key.
void apply_curve_client(zmq::socket_t& socket, const CurveKeys& keys);

}  // namespace grpo::actor
