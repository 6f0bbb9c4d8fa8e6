// Weight publication and trajectory messaging between two PROCESSES on the CPU, in one table.
//
// Weights: the learner (this process) publishes a version (actor::WeightPublisher, formats
// fp32/bf16/fp8 from model/weight_blob.h) and a rollout worker (a child process: this program
// with --subscribe) fetches it, reassembles it and checks its SHA-256. Time = from publish() to
// the child's timestamp after verification (CLOCK_MONOTONIC is shared by processes on one host),
// median of --reps versions after one warm-up. Side by side, in the same run and for the same
// byte count: torch.distributed gloo broadcast between two processes (bench/peer_weight_sync.py,
// what the Python RL frameworks use on CPU) and memcpy in one process (the physical ceiling:
// every transport copies the bytes at least once).
// Trajectories: actor::TrajectoryGroup (G=8 completions x 256 tokens) encode -> PUSH -> PULL ->
// decode across processes, groups/s and MB/s of wire bytes; the peer pickles the same arrays
// over a Unix socket (multiprocessing.connection), as SGLang's send_pyobj does over ZeroMQ.
//
//   bench_weight_sync [--reps N] [--groups N] [--configs tiny,100m] [--no-peer]
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actor/transport/channel.h"
#include "actor/transport/messages.h"
#include "actor/transport/peer_link.h"
#include "actor/weights/weight_sync.h"
#include "bench/python_peer.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/weight_blob.h"

#ifndef GRPO_PYTHON
#define GRPO_PYTHON "python3"
#endif

using namespace grpo;
using namespace std::chrono_literals;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  GRPO_CHECK(n > 0, "cannot read /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

// A child process whose stdout we read line by line.
struct Child {
  std::FILE* out = nullptr;
  explicit Child(const std::string& cmd) : out(::popen(cmd.c_str(), "r")) { GRPO_CHECK(out, "cannot start " + cmd); }
  std::string line() {
    char buf[1024];
    if (!std::fgets(buf, sizeof buf, out)) throw Error("bench child ended early");
    return buf;
  }
  ~Child() {
    if (out) ::pclose(out);
  }
};

// ---- child modes --------------------------------------------------------------------------

// Fetches `versions` versions, printing "<version> <monotonic ns after verification>" for each.
int run_subscriber(const std::string& endpoint, int versions, bool verify) {
  zmq::context_t context(1);
  actor::WeightSyncOptions o;
  o.verify_sha256 = verify;
  actor::WeightSubscriber sub(endpoint, o, context);
  uint64_t have = 0;
  grpo::WeightBlob previous;  // recycled, as a worker that is done with the last version does
  for (int i = 0; i < versions;) {
    auto b = sub.fetch_newer(have, 1000ms, &previous);
    if (!b) {
      std::this_thread::sleep_for(200us);  // nothing newer yet: ask again shortly
      continue;
    }
    have = b->version;
    previous = std::move(*b);
    std::printf("%llu %lld\n", static_cast<unsigned long long>(have), static_cast<long long>(now_ns()));
    std::fflush(stdout);
    ++i;
  }
  return 0;
}

// A reward worker's link: says hello, then receives warmup + n groups from the learner's hub
// (decoding each); prints "ready" after the warm-up and the monotonic time after the last one.
int run_trajectory_receiver(const std::string& endpoint, int warmup, int n) {
  zmq::context_t context(1);
  actor::WorkerLink link(endpoint, "reward-0-0", 64, context);
  GRPO_CHECK(link.send(actor::Control{"hello", nlohmann::json::object()}, 60s), "hello not sent");
  for (int i = 0; i < warmup + n; ++i) {
    auto e = link.receive(60s);
    const auto* m = e ? std::get_if<actor::Message>(&*e) : nullptr;
    if (!m || !std::holds_alternative<actor::TrajectoryGroup>(*m)) {
      std::printf("error: message %d missing or not a trajectory group\n", i);
      return 1;
    }
    if (i + 1 == warmup) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
  }
  std::printf("%lld\n", static_cast<long long>(now_ns()));
  std::fflush(stdout);
  return 0;
}

// ---- peers and ceilings -------------------------------------------------------------------

nlohmann::json run_peer(const std::string& args) { return grpo::bench::run_python_peer("peer_weight_sync.py", args); }

double memcpy_gbps(size_t bytes, int reps) {
  std::vector<uint8_t> a(bytes, 1), b(bytes, 2);  // both touched first, so no page faults are timed
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const int64_t t0 = now_ns();
    std::memcpy(b.data(), a.data(), bytes);
    t.push_back((now_ns() - t0) * 1e-9);
    a[i % bytes] ^= b[(i * 7) % bytes];  // keep the copies observable
  }
  return bytes / median(t) / 1e9;
}

// ---- weights ------------------------------------------------------------------------------

struct Args {
  int reps = 5;
  int groups = 2000;
  std::vector<std::string> configs = {"tiny", "100m"};
  bool peer = true;
};

// A DeepSeek-V3 config of about 100M parameters (model/configs has only tiny ones): tiny's
// architecture scaled up, MoE in every layer after the first.
model::ModelConfig config_100m() {
  std::ifstream f(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json");
  nlohmann::json j = nlohmann::json::parse(f);
  j["vocab_size"] = 16384;
  j["hidden_size"] = 768;
  j["intermediate_size"] = 2048;
  j["moe_intermediate_size"] = 512;
  j["num_hidden_layers"] = 8;
  j["n_routed_experts"] = 8;
  j["num_experts_per_tok"] = 2;
  j["n_group"] = 2;
  j["topk_group"] = 1;
  j["q_lora_rank"] = 384;
  j["kv_lora_rank"] = 256;
  j["qk_nope_head_dim"] = 64;
  j["qk_rope_head_dim"] = 32;
  j["v_head_dim"] = 64;
  j["num_attention_heads"] = 12;
  j["num_key_value_heads"] = 12;
  j["num_nextn_predict_layers"] = 0;
  return model::config_from_json(j, "bench_weight_sync 100m config");
}

// Median seconds from publish() to the child's copy, for `reps` versions after one warm-up. With
// `hashing` the learner hashes in publish() and the child verifies (the protocol as used); without,
// the hash is precomputed and the child does not check it (the transport alone).
double time_publication(const grpo::WeightBlob& blob, const std::string& transport, const std::string& address,
                        int reps, bool hashing) {
  actor::WeightSyncOptions o;
  o.transport = transport == "shm" ? "shm" : "zmq";
  zmq::context_t context(1);
  actor::WeightPublisher pub(address, o, context);
  Child child(self_exe() + " --subscribe " + pub.endpoint() + " " + std::to_string(reps + 1) +
              (hashing ? " verify" : " raw"));
  std::vector<double> seconds;
  for (int r = 0; r <= reps; ++r) {
    grpo::WeightBlob copy = blob;  // made before the clock starts
    copy.version = static_cast<uint64_t>(r + 1);
    if (hashing) copy.sha256.clear();  // publish() hashes, inside the timed region
    const int64_t t0 = now_ns();
    pub.publish(std::move(copy));
    std::istringstream line(child.line());
    unsigned long long version = 0;
    long long t1 = 0;
    line >> version >> t1;
    GRPO_CHECK(version == static_cast<unsigned long long>(r + 1), "the child reported another version");
    if (r > 0) seconds.push_back((t1 - t0) * 1e-9);
  }
  return median(seconds);
}

void bench_weights(const Args& a) {
  std::printf(
      "\nWeight publication, learner -> one rollout process, GB/s (1e9 B/s) = bytes / median time from\n"
      "publish() to the subscriber holding the bytes. Verified: the learner hashes (SHA-256) in publish()\n"
      "and the subscriber checks the hash, as the protocol runs by default. Raw: hash precomputed, not\n"
      "checked (the transport alone). gloo = torch.distributed broadcast of the same bytes between two\n"
      "processes (no integrity check); memcpy = one copy in one process (the ceiling).\n\n");
  std::printf("%-6s %8s %-4s %10s | %-23s | %-23s | %6s %6s\n", "", "", "", "", "verified", "raw", "", "");
  std::printf("%-6s %8s %-4s %10s | %7s %7s %7s | %7s %7s %7s | %6s %6s\n", "config", "params", "fmt", "bytes", "ipc",
              "tcp", "shm", "ipc", "tcp", "shm", "gloo", "memcpy");
  std::printf("%s\n", std::string(100, '-').c_str());
  for (const auto& name : a.configs) {
    torch::NoGradGuard no_grad;
    model::ModelConfig c = name == "100m"
                               ? config_100m()
                               : model::load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/" + name + ".json");
    model::CausalLM lm(c);
    model::init_weights(lm, 1);
    int64_t params = 0;
    for (const auto& p : lm->parameters()) params += p.numel();
    const int reps = params > 20'000'000 ? std::max(3, a.reps / 2) : a.reps;
    for (auto format : {model::PublishFormat::kFp32, model::PublishFormat::kBf16, model::PublishFormat::kFp8}) {
      const grpo::WeightBlob blob = model::publish_blob(lm, format, 1);
      const size_t bytes = blob.data.size();
      std::vector<double> gbps;
      int n = 0;
      for (bool hashing : {true, false}) {
        for (const std::string transport : {"ipc", "tcp", "shm"}) {
          const std::string address =
              transport == "tcp" ? "tcp://127.0.0.1:*"
                                 : "ipc:///tmp/grpo-bench-ws-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
          gbps.push_back(bytes / time_publication(blob, transport, address, reps, hashing) / 1e9);
        }
      }
      std::string gloo = "n/a";
      if (a.peer) {
        auto j = run_peer("weights --bytes " + std::to_string(bytes) + " --reps " + std::to_string(reps));
        if (j.contains("median_s")) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.2f", bytes / j["median_s"].get<double>() / 1e9);
          gloo = buf;
        } else {
          std::fprintf(stderr, "gloo peer failed: %s\n", j.dump().c_str());
        }
      }
      std::printf("%-6s %7.1fM %-4s %10zu | %7.2f %7.2f %7.2f | %7.2f %7.2f %7.2f | %6s %6.2f\n", name.c_str(),
                  params / 1e6, model::publish_format_name(format).c_str(), bytes, gbps[0], gbps[1], gbps[2], gbps[3],
                  gbps[4], gbps[5], gloo.c_str(), memcpy_gbps(bytes, reps));
      std::fflush(stdout);
    }
  }
  // The subscriber's verification cost, for reading the table.
  std::vector<uint8_t> buf(256u << 20, 7);
  const int64_t t0 = now_ns();
  const std::string h = grpo::sha256_hex(buf.data(), buf.size());
  std::printf("(SHA-256 of 256 MiB in this build: %.2f GB/s; \"verified\" pays it twice, learner and worker)\n",
              buf.size() / ((now_ns() - t0) * 1e-9) / 1e9);
}

// ---- trajectories -------------------------------------------------------------------------

actor::TrajectoryGroup make_group(uint64_t id, int g, int t) {
  std::mt19937 rng(static_cast<uint32_t>(id));
  actor::TrajectoryGroup group;
  group.batch_id = id;
  group.prompt.prompt_id = id;
  for (int i = 0; i < 64; ++i) group.prompt.tokens.push_back(static_cast<int32_t>(rng() % 32000));
  group.prompt.row = {{"answer", "42"}};
  std::normal_distribution<float> normal;
  for (int k = 0; k < g; ++k) {
    actor::Completion c;
    c.text = std::string(4 * static_cast<size_t>(t), 'x');  // ~4 characters per token
    for (int i = 0; i < t; ++i) {
      c.tokens.push_back(static_cast<int32_t>(rng() % 32000));
      c.logprobs.push_back(normal(rng));
    }
    c.finish_reason = "length";
    c.version_start = c.version_end = 1;
    group.completions.push_back(std::move(c));
  }
  return group;
}

void bench_trajectories(const Args& a) {
  const int g = 8, t = 256, warmup = 50;
  std::vector<actor::TrajectoryGroup> groups;
  for (int i = 0; i < 16; ++i) groups.push_back(make_group(static_cast<uint64_t>(i), g, t));
  size_t wire_bytes = 0;
  for (const auto& f : actor::encode(groups[0])) wire_bytes += f.size();
  std::printf(
      "\nTrajectory groups (G=%d x %d tokens, %zu wire bytes each), encode -> send -> receive -> decode\n"
      "between two processes, %d groups after %d warm-up:\n\n",
      g, t, wire_bytes, a.groups, warmup);
  std::printf("%-34s %12s %10s\n", "path", "groups/s", "MB/s");
  std::printf("%s\n", std::string(58, '-').c_str());
  int n = 0;
  for (const std::string transport : {"ipc", "tcp"}) {
    // The path a trajectory group takes from the learner to a reward worker: Hub -> WorkerLink.
    const std::string address =
        transport == "tcp" ? "tcp://127.0.0.1:*"
                           : "ipc://@grpo-bench-traj-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    zmq::context_t context(1);
    actor::Hub hub(address, 64, context);
    Child child(self_exe() + " --receive-trajectories " + hub.endpoint() + " " + std::to_string(warmup) + " " +
                std::to_string(a.groups));
    const auto hello = hub.receive(60s);
    GRPO_CHECK(hello.has_value(), "the receiver did not say hello");
    auto send = [&](const actor::TrajectoryGroup& group) {
      GRPO_CHECK(hub.send(hello->peer, actor::Message{group}, 60s), "send timed out");
    };
    for (int i = 0; i < warmup; ++i) send(groups[i % 16]);
    GRPO_CHECK(child.line().rfind("ready", 0) == 0, "receiver did not get ready");
    const int64_t t0 = now_ns();
    for (int i = 0; i < a.groups; ++i) send(groups[i % 16]);
    const double s = (std::stoll(child.line()) - t0) * 1e-9;
    std::printf("%-34s %12.0f %10.1f\n", ("grpo actor::Hub -> WorkerLink " + transport).c_str(), a.groups / s,
                a.groups * wire_bytes / s / 1e6);
  }
  if (a.peer) {
    auto j = run_peer("trajectories --groups " + std::to_string(a.groups) + " --group-size " + std::to_string(g) +
                      " --tokens " + std::to_string(t));
    if (j.contains("groups_per_s"))
      std::printf("%-34s %12.0f %10.1f\n", "python pickle over Unix socket", j["groups_per_s"].get<double>(),
                  j["mb_per_s"].get<double>());
    else
      std::fprintf(stderr, "trajectory peer failed: %s\n", j.dump().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 4 && args[0] == "--subscribe")
      return run_subscriber(args[1], std::stoi(args[2]), args[3] == "verify");
    if (args.size() == 4 && args[0] == "--receive-trajectories")
      return run_trajectory_receiver(args[1], std::stoi(args[2]), std::stoi(args[3]));
    Args a;
    for (size_t i = 0; i < args.size(); ++i) {
      auto next = [&]() -> std::string {
        if (i + 1 >= args.size()) throw Error(args[i] + " needs a value");
        return args[++i];
      };
      if (args[i] == "--reps")
        a.reps = std::stoi(next());
      else if (args[i] == "--groups")
        a.groups = std::stoi(next());
      else if (args[i] == "--no-peer")
        a.peer = false;
      else if (args[i] == "--configs") {
        a.configs.clear();
        std::stringstream ss(next());
        for (std::string s; std::getline(ss, s, ',');) a.configs.push_back(s);
      } else {
        throw Error("unknown argument " + args[i] +
                    " (usage: bench_weight_sync [--reps N] [--groups N] [--configs tiny,100m] [--no-peer])");
      }
    }
    torch::set_num_threads(1);
    std::printf("bench_weight_sync: %u hardware threads; one publisher thread, one subscriber process\n",
                std::thread::hardware_concurrency());
    bench_weights(a);
    bench_trajectories(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_weight_sync: %s\n", e.what());
    return 1;
  }
  return 0;
}
