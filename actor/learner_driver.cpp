#include "actor/learner_driver.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "actor/dispatch_rule.h"
#include "actor/membership.h"
#include "actor/prompt_ledger.h"
#include "actor/recipe_scorer.h"
#include "actor/transport/peer_link.h"
#include "actor/weight_versions.h"
#include "actor/weights/nccl_broadcast.h"
#include "actor/weights/nccl_weight_sender.h"
#include "actor/weights/weight_sync.h"
#include "actor/worker_session.h"
#include "common/error.h"
#include "model/weight_blob.h"
#include "rewards/scorer.h"

extern char** environ;

namespace grpo::actor {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxRestartsPerRank = 5;       // a worker that keeps dying is a bug to report, not to retry
constexpr size_t kRewardGroupsInFlight = 8;  // per reward worker: bounds what a loss re-sends

std::string random_token() {
  std::random_device rd;
  char buf[33];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + 8 * i, 9, "%08x", rd());
  return buf;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Appends one JSON line and flushes (a crash loses at most the line being written).
void append_line(const std::string& path, const json& j) {
  std::ofstream f(path, std::ios::app);
  f << j.dump() << "\n";
}

// Starts `grpo worker` child processes: fork + exec of this very program.
pid_t spawn_worker_process(const std::string& role, int rank, int incarnation, const std::string& hub,
                           const std::string& token, const std::string& curve_key_file) {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw Error(std::string("cannot find this program (/proc/self/exe): ") + std::strerror(errno));
  exe[n] = 0;
  std::vector<std::string> args = {exe,
                                   "worker",
                                   "--role",
                                   role,
                                   "--rank",
                                   std::to_string(rank),
                                   "--incarnation",
                                   std::to_string(incarnation),
                                   "--connect",
                                   hub};
  if (!curve_key_file.empty()) {
    args.push_back("--curve-key-file");
    args.push_back(curve_key_file);
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GRPO_RUN_TOKEN=", 15) != 0) env.emplace_back(*e);
  env.push_back("GRPO_RUN_TOKEN=" + token);  // not on the command line, where ps shows it
  // Workers share the host's cores with the learner and each other. OpenMP's default active
  // waiting then burns the cores another process needs. Measured on a busy 2-core machine, tiny
  // model, 3 runs each: 2.8-19.5 s per step with active waiting everywhere, 1.0-1.9 s with
  // passive waiting in the workers. A user's own OMP_WAIT_POLICY is kept.
  if (!std::getenv("OMP_WAIT_POLICY")) env.push_back("OMP_WAIT_POLICY=PASSIVE");
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("cannot start a worker process: fork: ") + std::strerror(errno));
  if (pid == 0) {                        // only async-signal-safe calls until exec
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the learner killed → its workers die with it
    if (::getppid() != parent) ::_exit(1);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

struct LearnerDriver::Impl {
  struct Worker {
    std::string role;
    int rank = 0;
    int incarnation = 0;
    long pid = 0;
    bool welcomed = false;
    bool reaped = false;  // process mode: waitpid has collected it
    // Until a worker has done its first piece of work (a rollout worker: loaded weights) it may
    // be building its model without a chance to beat: it gets the longer startup timeout.
    bool ready = false;
    Clock::time_point last_seen;
    size_t nccl_told = 0;  // NCCL members (rollout, incarnation 0): versions told so far
  };
  struct StepTimes {
    Clock::time_point submitted, first_generated, last_generated, last_scored;
    bool any_generated = false;
    double drafted = 0, accepted = 0;
  };

  // Settings.
  learner::Recipe recipe;
  DriverSetup setup;
  std::string token;
  int rollout_count = 1, reward_count = 1;
  uint64_t max_staleness = 0;
  milliseconds heartbeat{1000}, worker_timeout{10000};
  std::string hub_address, weights_address, weights_advertised;
  json welcome;
  std::string weight_format = "fp32";  // runtime.weight_format
  std::string curve_key_file;
  std::optional<actor::CurveKeys> curve;  // set when tcp endpoints use CURVE
  size_t curve_refused_before = 0;        // actor::curve_refused() at the last step's metrics
  std::string workers_log, weights_log;

  // Sockets and threads.
  std::unique_ptr<actor::WeightPublisher> publisher;
  std::unique_ptr<NcclWeightSender> nccl;  // runtime.weight_sync "nccl" (actor/weights/nccl_weight_sender.h)
  bool nccl_joining = false;               // start_join() called
  std::vector<json> nccl_versions;         // every version handed to `nccl`, in order (under mu)
  std::unique_ptr<actor::Hub> hub;
  std::vector<std::unique_ptr<rewards::Scorer>> scorers;  // threads mode, built before any thread
  std::vector<std::thread> worker_threads;
  std::atomic<bool> stop{false};
  std::thread dispatcher;

  // State shared with the training thread (under mu).
  std::mutex mu;
  std::condition_variable cv;
  actor::PromptLedger ledger{0};
  std::map<uint64_t, SlotPrompt> prompts;  // slot → prompt
  std::map<uint64_t, actor::TrajectoryGroup> trajectories;
  std::map<uint64_t, actor::ScoredGroup> scored;
  std::map<std::string, Worker> workers;                // identity → worker
  std::map<std::pair<std::string, int>, int> restarts;  // (role, rank) → restarts so far
  std::map<long, StepTimes> times;
  std::map<uint64_t, std::string> learner_hash;         // policy version → model hash ("fp32" only)
  std::map<uint64_t, std::string> learner_blob_sha256;  // policy version → SHA-256 of the published bytes
  std::map<uint64_t, double> publish_seconds, fetch_seconds;
  uint64_t version = 0;
  bool announce_pending = false;
  long restarts_since_step = 0, lost_since_step = 0, refused_since_step = 0;
  std::string failure;
  Clock::time_point role_missing_since[2];
  uint64_t heartbeat_seq = 0;
  long lost_total = 0;
  Clock::time_point started = Clock::now();
  Clock::time_point last_heartbeat;

  void start() {
    const json& v = recipe.values;
    rollout_count = static_cast<int>(v["runtime"]["rollout_workers"].get<long>());
    reward_count = static_cast<int>(v["runtime"]["reward_workers"].get<long>());
    max_staleness = v["runtime"]["max_staleness"].get<uint64_t>();
    worker_timeout = milliseconds(static_cast<long>(v["runtime"]["heartbeat_timeout_s"].get<double>() * 1000));
    heartbeat = std::clamp(worker_timeout / 5, milliseconds(100), milliseconds(1000));
    ledger = actor::PromptLedger(max_staleness);
    workers_log = setup.run_dir + "/workers.jsonl";
    weights_log = setup.run_dir + "/weight_sync.jsonl";
    if (v["runtime"]["weight_sync"] == "nccl") check_nccl_possible();  // before anything starts
    weight_format = v["runtime"]["weight_format"].get<std::string>();

    // Endpoints: inproc between threads, ipc (or tcp loopback) between processes of one host, tcp
    // on the named interface across hosts. The run token keeps two runs' endpoints apart.
    const std::string transport = v["runtime"]["transport"].get<std::string>();
    const std::string tag = std::to_string(::getpid()) + "-" + (token + "00000000").substr(0, 8);
    if (setup.mode == WorkerMode::kExternal) {
      hub_address = "tcp://" + setup.bind_host + ":" + std::to_string(setup.port);
      weights_address = "tcp://" + setup.bind_host + ":" + (setup.port ? std::to_string(setup.port + 1) : "*");
    } else if (transport == "tcp") {
      hub_address = "tcp://127.0.0.1:*";
      weights_address = "tcp://127.0.0.1:*";
    } else if (transport == "ipc" || setup.mode == WorkerMode::kProcesses) {
      // Linux abstract sockets ("@"): no file to leave behind when the learner is killed.
      hub_address = "ipc://@grpo-" + tag + "-hub";
      weights_address = "ipc://@grpo-" + tag + "-weights";
    } else {
      hub_address = "inproc://grpo-hub-" + tag;
      weights_address = "inproc://grpo-weights-" + tag;
    }
    // Threads mode: the reward actors' scorers fork their Lua workers now, before this process
    // has any thread of ours (rewards/scorer.h).
    if (setup.mode == WorkerMode::kThreads)
      for (int i = 0; i < reward_count; ++i)
        scorers.push_back(std::make_unique<rewards::Scorer>(v["reward"]["script"].get<std::string>(),
                                                            scorer_options_from_recipe(recipe)));
    // runtime.weight_sync: "shm" puts each version in POSIX shared memory once (one host only);
    // "auto" and "zmq" send it over the socket; "nccl" broadcasts it to the rollout ranks as well
    // (actor/weights/nccl_weight_sender.h), the pull publisher serving whoever is not in the communicator.
    actor::WeightSyncOptions sync;
    const std::string weight_sync = v["runtime"]["weight_sync"].get<std::string>();
    if (weight_sync == "shm" && setup.mode != WorkerMode::kExternal) sync.transport = "shm";
    if (weight_sync == "shm" && setup.mode == WorkerMode::kExternal && !setup.quiet)
      std::fprintf(
          stderr,
          "grpo train: note: runtime.weight_sync \"shm\" needs one host; launcher ranks get weights over ZeroMQ\n");
    // runtime.curve_key_file: CURVE on tcp endpoints (actor/transport/curve.h). inproc and ipc stay on this
    // host, where the run token and the socket's namespace suffice.
    curve_key_file = v["runtime"]["curve_key_file"].get<std::string>();
    if (!curve_key_file.empty()) {
      if (hub_address.rfind("tcp://", 0) == 0) {
        if (!actor::curve_available())
          throw file_error(recipe.file, "runtime.curve_key_file",
                           "this libzmq has no CURVE support (built without libsodium)");
        curve = actor::load_curve_key_file(curve_key_file);
        sync.curve = curve;
      } else if (!setup.quiet) {
        std::fprintf(
            stderr,
            "grpo train: note: runtime.curve_key_file applies to tcp endpoints; this run's actors talk over %s\n",
            hub_address.substr(0, hub_address.find(':')).c_str());
      }
    }
    publisher = std::make_unique<actor::WeightPublisher>(weights_address, sync);
    hub = std::make_unique<actor::Hub>(hub_address, 64, actor::process_context(), curve);
    hub_address = hub->endpoint();  // ports resolved
    weights_advertised = publisher->endpoint();
    if (setup.mode == WorkerMode::kExternal) {
      auto port = weights_advertised.substr(weights_advertised.rfind(':') + 1);
      weights_advertised = "tcp://" + setup.advertise_host + ":" + port;
    }
    json nccl_welcome;  // what the rollout ranks need to join the communicator
    if (weight_sync == "nccl") {
      // Rank 0 is the learner, rank r + 1 rollout worker r; the id goes to them in the welcome.
      const std::string id = actor::nccl_new_unique_id_hex();
      const milliseconds broadcast_timeout = std::max(milliseconds(30000), 3 * worker_timeout);
      // Devices: in process mode GPU 0 for the learner and GPU r + 1 for rollout worker r, set here
      // (the children inherit a launcher's LOCAL_RANK, which would put them all on one GPU); a
      // launcher's ranks use their own local rank.
      const bool assign = setup.mode == WorkerMode::kProcesses;
      nccl = std::make_unique<NcclWeightSender>(id, rollout_count + 1, assign ? 0 : actor::local_cuda_device(0),
                                                startup_timeout(), broadcast_timeout);
      nccl_welcome = {{"id", id},
                      {"world", rollout_count + 1},
                      {"timeout_ms", broadcast_timeout.count()},
                      {"join_timeout_ms", startup_timeout().count()},
                      {"assign_devices", assign}};
    }
    welcome = {{"recipe", v},
               {"recipe_file", recipe.file},
               {"model_config", setup.model_config},
               {"tokenizer", setup.tokenizer},
               {"weights_endpoint", weights_advertised},
               {"heartbeat_ms", heartbeat.count()},
               {"learner_timeout_ms", startup_timeout().count()},
               {"set_threads", setup.mode != WorkerMode::kThreads}};
    if (nccl) welcome["nccl"] = std::move(nccl_welcome);
    role_missing_since[0] = role_missing_since[1] = Clock::now();

    dispatcher = std::thread([this] { loop(); });
    if (setup.mode == WorkerMode::kThreads) {
      for (int i = 0; i < rollout_count; ++i) start_thread("rollout", i, nullptr);
      for (int i = 0; i < reward_count; ++i) start_thread("reward", i, scorers[static_cast<size_t>(i)].get());
    } else if (setup.mode == WorkerMode::kProcesses) {
      std::lock_guard<std::mutex> lk(mu);
      for (int i = 0; i < rollout_count; ++i) start_process("rollout", i, 0);
      for (int i = 0; i < reward_count; ++i) start_process("reward", i, 0);
    } else if (!setup.quiet) {
      std::fprintf(stderr, "grpo train: learner listening on %s; waiting for %d rollout and %d reward ranks\n",
                   hub_address.c_str(), rollout_count, reward_count);
    }
  }

  // runtime.weight_sync "nccl" asked for explicitly: refuse what cannot work rather than fall
  // back in silence (a user who asked for NCCL measures with it).
  void check_nccl_possible() const {
    auto refuse = [&](const std::string& why) {
      throw file_error(recipe.file, "runtime.weight_sync", "\"nccl\" " + why + "; use \"auto\" (ZeroMQ) instead");
    };
    // (max_staleness > 0 is refused when the recipe is read: learner/recipe.cpp.)
    if (setup.mode == WorkerMode::kThreads)
      refuse(
          "needs rollout workers in their own processes (NCCL takes one rank per GPU): set runtime.mode to "
          "\"processes\" or start ranks with a launcher");
    if (!actor::nccl_built())
      refuse("needs a build with CUDA and NCCL (GRPO_NCCL=ON, nccl.h found); this one has none");
    const int devices = actor::cuda_device_count();
    if (devices == 0)
      refuse("needs a CUDA GPU, and this process sees none (check CUDA_VISIBLE_DEVICES and nvidia-smi)");
    if (setup.mode == WorkerMode::kProcesses && devices < rollout_count + 1)
      refuse("needs one GPU per rank on this host: the learner and " + std::to_string(rollout_count) +
             " rollout workers, but " + std::to_string(devices) + " are visible (NCCL refuses two ranks on one GPU)");
  }

  void start_thread(const std::string& role, int rank, rewards::Scorer* scorer) {
    WorkerSpec spec;
    spec.role = role;
    spec.rank = rank;
    spec.hub = hub_address;
    spec.token = token;
    spec.curve = curve;
    spec.scorer = scorer;
    spec.stop = &stop;
    worker_threads.emplace_back([spec] {
      try {
        run_worker(spec);
      } catch (const std::exception& e) {  // the dispatcher notices the silence and reassigns
        std::fprintf(stderr, "grpo train: %s worker %d failed: %s\n", spec.role.c_str(), spec.rank, e.what());
      }
    });
  }

  // Under mu.
  void start_process(const std::string& role, int rank, int incarnation) {
    const pid_t pid = spawn_worker_process(role, rank, incarnation, hub_address, token, curve ? curve_key_file : "");
    Worker w;
    w.role = role;
    w.rank = rank;
    w.incarnation = incarnation;
    w.pid = pid;
    w.last_seen = Clock::now();  // the hello must come within the timeout too
    workers[worker_identity(role, rank, incarnation)] = w;
    append_line(workers_log,
                {{"event", "started"}, {"role", role}, {"rank", rank}, {"incarnation", incarnation}, {"pid", pid}});
  }

  // ---- the dispatcher thread ---------------------------------------------------------------

  void loop() {
    auto last_housekeeping = Clock::now() - milliseconds(1000);
    while (!stop) {
      try {
        auto in = hub->receive(milliseconds(20));
        std::unique_lock<std::mutex> lk(mu);
        for (int n = 0; in && n < 256; ++n) {
          handle(*in);
          in = hub->receive(milliseconds(0));
        }
        if (Clock::now() - last_housekeeping >= milliseconds(50)) {
          last_housekeeping = Clock::now();
          check_liveness();
          dispatch_rollouts();
          dispatch_rewards();
          send_heartbeats();
        }
        lk.unlock();
        cv.notify_all();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(mu);
        failure = std::string("actor runtime: ") + e.what();
        cv.notify_all();
        return;
      }
    }
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& [id, w] : workers)
      hub->send(id, actor::Message{actor::Shutdown{"run finished"}}, milliseconds(100));
  }

  void handle(const actor::Incoming& in) {
    const auto now = Clock::now();
    if (const auto* c = std::get_if<actor::Control>(&in.envelope); c && c->kind == "hello") {
      on_hello(in.peer, c->body);
      return;
    }
    auto it = workers.find(in.peer);
    if (it == workers.end() || !it->second.welcomed) {
      ++refused_since_step;  // a message from a peer that has not said hello with our token
      return;
    }
    Worker& w = it->second;
    w.last_seen = now;  // any traffic counts as a heartbeat
    if (!std::holds_alternative<actor::Message>(in.envelope) ||
        !std::holds_alternative<actor::Heartbeat>(std::get<actor::Message>(in.envelope)))
      w.ready = true;
    if (const auto* c = std::get_if<actor::Control>(&in.envelope)) {
      if (c->kind == "weights") {
        const uint64_t ver = c->body.value("version", uint64_t{0});
        const double secs = c->body.value("seconds", 0.0);
        fetch_seconds[ver] = std::max(fetch_seconds[ver], secs);
        const auto lh = learner_hash.find(ver);
        const auto lb = learner_blob_sha256.find(ver);
        append_line(weights_log, {{"version", ver},
                                  {"worker", in.peer},
                                  {"role", w.role},
                                  {"rank", w.rank},
                                  {"hash", c->body.value("hash", "")},
                                  {"learner_hash", lh == learner_hash.end() ? "" : lh->second},
                                  {"seconds", secs},
                                  {"via", c->body.value("via", "pull")},
                                  {"format", weight_format},
                                  {"blob_sha256", c->body.value("blob_sha256", "")},
                                  {"learner_blob_sha256", lb == learner_blob_sha256.end() ? "" : lb->second}});
      } else if (c->kind == "nccl_left") {
        if (nccl) nccl->abandon(in.peer + " left: " + c->body.value("reason", std::string("?")));
      } else if (c->kind == "stats") {
        auto t = times.find(c->body.value("step", 0L));
        if (t != times.end()) {
          t->second.drafted += c->body.value("drafted", 0.0);
          t->second.accepted += c->body.value("accepted", 0.0);
        }
      }
      return;
    }
    const auto& m = std::get<actor::Message>(in.envelope);
    if (const auto* g = std::get_if<actor::TrajectoryGroup>(&m)) {
      const uint64_t slot = g->prompt.prompt_id;
      uint64_t start = version;
      for (const auto& c : g->completions) start = std::min(start, c.version_start);
      if (ledger.on_generated(slot, start, version) == actor::PromptLedger::Verdict::kAccepted) {
        trajectories[slot] = *g;
        auto& t = times[actor::slot_step(slot)];
        if (!t.any_generated) t.first_generated = now;
        t.any_generated = true;
        t.last_generated = now;
      }
    } else if (const auto* s = std::get_if<actor::ScoredGroup>(&m)) {
      const uint64_t slot = s->group.prompt.prompt_id;
      if (ledger.on_scored(slot) == actor::PromptLedger::Verdict::kAccepted) {
        scored[slot] = *s;
        trajectories.erase(slot);
        times[actor::slot_step(slot)].last_scored = now;
      }
    }
  }

  void on_hello(const std::string& peer, const json& body) {
    const std::string role = body.value("role", "");
    const int rank = body.value("rank", -1);
    const int incarnation = body.value("incarnation", 0);
    HelloFacts hello;
    hello.token = body.value("token", "");
    hello.role = role;
    hello.rank = rank;
    hello.incarnation = incarnation;
    hello.peer = peer;
    hello.expected_token = token;
    hello.rollout_workers = rollout_count;
    hello.reward_workers = reward_count;
    hello.processes_mode = setup.mode == WorkerMode::kProcesses;
    hello.spawned_by_us = workers.count(peer) > 0;
    const std::string refusal = hello_refusal(hello);
    if (!refusal.empty()) {
      ++refused_since_step;
      hub->send(peer, actor::Message{actor::Shutdown{"refused: " + refusal}}, milliseconds(0));
      return;
    }
    Worker& w = workers[peer];
    if (!w.welcomed) {
      w.role = role;
      w.rank = rank;
      w.incarnation = incarnation;
      if (!w.pid) w.pid = body.value("pid", 0L);
      w.welcomed = true;
      w.ready = role == "reward";  // a scorer is up at once; a rollout worker builds a model
      append_line(workers_log, {{"event", "welcomed"},
                                {"role", role},
                                {"rank", rank},
                                {"incarnation", w.incarnation},
                                {"pid", body.value("pid", 0L)},
                                {"identity", peer}});
    }
    w.last_seen = Clock::now();
    hub->send(peer, actor::Control{"welcome", welcome}, milliseconds(1000));
  }

  // A worker is gone: its work goes back to the ledger; in process mode it is restarted.
  void lose(const std::string& id, const std::string& why) {
    auto it = workers.find(id);
    if (it == workers.end()) return;
    Worker w = it->second;
    workers.erase(it);
    const size_t moved = ledger.worker_lost(id);
    ++lost_since_step;
    ++lost_total;
    if (!setup.quiet)
      std::fprintf(stderr, "grpo train: %s worker %d (pid %ld) lost: %s; %zu prompt(s) handed to others\n",
                   w.role.c_str(), w.rank, w.pid, why.c_str(), moved);
    append_line(workers_log, {{"event", "lost"},
                              {"role", w.role},
                              {"rank", w.rank},
                              {"incarnation", w.incarnation},
                              {"pid", w.pid},
                              {"reason", why},
                              {"reassigned", moved}});
    hub->send(id, actor::Message{actor::Shutdown{"declared dead: " + why}}, milliseconds(0));
    if (nccl && w.role == "rollout" && w.incarnation == 0)  // a communicator cannot replace a rank
      nccl->abandon("rollout worker " + std::to_string(w.rank) + " lost");
    if (setup.mode == WorkerMode::kProcesses) {
      if (w.pid > 0 && !w.reaped) {
        ::kill(static_cast<pid_t>(w.pid), SIGKILL);  // a hung worker must not come back half-alive
        ::waitpid(static_cast<pid_t>(w.pid), nullptr, 0);
      }
      int& n = restarts[{w.role, w.rank}];
      if (n < kMaxRestartsPerRank) {
        ++n;
        ++restarts_since_step;
        start_process(w.role, w.rank, w.incarnation + 1);
      }
    }
  }

  // A rollout worker that joined the NCCL communicator: the first incarnation of its rank, while
  // the broadcasts work. A restarted one cannot join (a communicator takes no new ranks).
  bool nccl_member(const Worker& w) const {
    return nccl && w.role == "rollout" && w.incarnation == 0 && nccl->failure().empty();
  }

  milliseconds startup_timeout() const { return actor::startup_timeout(worker_timeout); }

  void check_liveness() {
    const auto now = Clock::now();
    std::vector<std::pair<std::string, std::string>> dead;
    for (const auto& [id, w] : workers) {
      LivenessFacts facts;
      facts.ready = w.ready;
      facts.silent_for = now - w.last_seen;
      facts.worker_timeout = worker_timeout;
      facts.startup_timeout = startup_timeout();
      if (setup.mode == WorkerMode::kProcesses && w.pid > 0 && !w.reaped) {
        int status = 0;
        if (::waitpid(static_cast<pid_t>(w.pid), &status, WNOHANG) == w.pid) {
          const_cast<Worker&>(w).reaped = true;
          facts.wait_status = status;
        }
      }
      if (auto why = liveness_verdict(facts)) dead.emplace_back(id, *why);
    }
    for (const auto& [id, why] : dead) lose(id, why);
    // A role with nobody left and nobody coming is a run that cannot finish.
    const char* roles[2] = {"rollout", "reward"};
    for (int r = 0; r < 2; ++r) {
      bool any = false;
      for (const auto& [id, w] : workers) any |= w.role == roles[r];
      if (any)
        role_missing_since[r] = now;
      else if (now - role_missing_since[r] > role_missing_limit(worker_timeout))
        throw Error(std::string("no ") + roles[r] + " worker is left and none came back (see workers.jsonl)");
    }
  }

  std::vector<std::string> live(const std::string& role) const {
    std::vector<std::string> out;
    for (const auto& [id, w] : workers)
      if (w.welcomed && w.role == role) out.push_back(id);
    std::sort(out.begin(), out.end(),
              [&](const std::string& a, const std::string& b) { return workers.at(a).rank < workers.at(b).rank; });
    return out;
  }

  // Each step's queued prompts go out as one batch per live rollout worker, in contiguous
  // chunks: with one worker, one batch per step, as the synchronous loop generated it.
  void dispatch_rollouts() {
    if (nccl && !nccl_joining) {  // every member here: the learner joins the communicator now
      int members = 0;
      for (const auto& [id, w] : workers) members += w.welcomed && w.role == "rollout" && w.incarnation == 0;
      if (members == rollout_count) {
        nccl->start_join();
        nccl_joining = true;
      }
    }
    if (announce_pending) {
      for (const auto& id : live("rollout"))
        if (!nccl_member(workers.at(id)))
          hub->send(id, actor::Message{actor::WeightAnnouncement{version, weight_format, 0, "zmq"}}, milliseconds(0));
      announce_pending = false;
    }
    // NCCL members hear of every broadcast version, in order, before any batch that needs it
    // (one socket keeps the order): each must join every broadcast.
    for (const auto& id : live("rollout")) {
      Worker& w = workers.at(id);
      while (nccl_member(w) && w.nccl_told < nccl_versions.size())
        if (!hub->send(id, actor::Control{"nccl_weights", nccl_versions[w.nccl_told]}, milliseconds(0)))
          break;
        else
          ++w.nccl_told;
    }
    auto queued = ledger.queued(SIZE_MAX);
    if (queued.empty()) return;
    const auto workers_now = live("rollout");
    if (workers_now.empty()) return;
    // Until a worker is lost, wait for all of them (up to the heartbeat timeout): the split of a
    // step's prompts then depends on the recipe only, and a run is reproducible.
    if (wait_for_all_rollout_workers(workers_now.size(), static_cast<size_t>(rollout_count), lost_total,
                                     Clock::now() - started, worker_timeout))
      return;
    const json& r = recipe.values["rollout"];
    size_t i = 0;
    while (i < queued.size()) {
      const long step = actor::slot_step(queued[i]);
      size_t j = i;
      while (j < queued.size() && actor::slot_step(queued[j]) == step) ++j;
      const auto chunks = split_step(j - i, workers_now.size());
      for (size_t p = 0; p < chunks.size(); ++p) {
        const size_t from = i + chunks[p].first, to = i + chunks[p].second;
        actor::PromptBatch batch;
        batch.batch_id = static_cast<uint64_t>(step);
        batch.weight_version = version;
        batch.group_size = static_cast<uint32_t>(r["group_size"].get<long>());
        for (size_t k = from; k < to; ++k) {
          const auto& sp = prompts.at(queued[k]);
          actor::Prompt pr;
          pr.prompt_id = queued[k];
          pr.tokens = sp.tokens;
          pr.row = sp.row;
          batch.prompts.push_back(std::move(pr));
        }
        const Worker& target = workers.at(workers_now[p]);
        if (nccl_member(target) && target.nccl_told < nccl_versions.size()) continue;  // its notes first; retried
        if (!hub->send(workers_now[p], actor::Message{std::move(batch)}, milliseconds(200))) continue;  // retried
        for (size_t k = from; k < to; ++k) ledger.mark_rolling(queued[k], workers_now[p]);
      }
      i = j;
    }
  }

  void dispatch_rewards() {
    auto ready = ledger.generated(SIZE_MAX);
    for (uint64_t slot : ready) {
      const auto scorers = live("reward");
      std::vector<size_t> loads;
      for (const auto& id : scorers) loads.push_back(ledger.in_flight(id));
      const auto pick = pick_reward_worker(loads, kRewardGroupsInFlight);
      if (!pick) return;  // every reward worker is busy: back-pressure
      const std::string& best = scorers[*pick];
      if (!hub->send(best, actor::Message{trajectories.at(slot)}, milliseconds(200))) return;
      ledger.mark_scoring(slot, best);
    }
  }

  void send_heartbeats() {
    if (Clock::now() - last_heartbeat < heartbeat) return;
    last_heartbeat = Clock::now();
    ++heartbeat_seq;
    for (const auto& [id, w] : workers)
      if (w.welcomed) hub->send(id, actor::Message{actor::Heartbeat{"learner", 0, heartbeat_seq}}, milliseconds(0));
  }
};

LearnerDriver::LearnerDriver(const learner::Recipe& recipe, const DriverSetup& setup)
    : impl_(std::make_unique<Impl>()) {
  impl_->recipe = recipe;
  impl_->setup = setup;
  const char* t = std::getenv("GRPO_RUN_TOKEN");
  // Launcher ranks share the token through the environment; our own workers get a fresh one.
  impl_->token = setup.mode == WorkerMode::kExternal ? (t ? t : "") : random_token();
  impl_->start();
}

LearnerDriver::~LearnerDriver() {
  impl_->stop = true;
  if (impl_->dispatcher.joinable()) impl_->dispatcher.join();
  for (auto& t : impl_->worker_threads) t.join();
  if (impl_->setup.mode == WorkerMode::kProcesses) {
    const auto deadline = Clock::now() + milliseconds(5000);
    for (auto& [id, w] : impl_->workers) {
      if (w.pid <= 0 || w.reaped) continue;
      while (::waitpid(static_cast<pid_t>(w.pid), nullptr, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          ::kill(static_cast<pid_t>(w.pid), SIGKILL);
          ::waitpid(static_cast<pid_t>(w.pid), nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }
}

double LearnerDriver::publish(model::CausalLM& policy, uint64_t version) {
  const auto t0 = Clock::now();
  const std::string& format = impl_->weight_format;
  grpo::WeightBlob blob;
  {
    torch::NoGradGuard no_grad;
    blob = model::publish_blob(policy, model::parse_publish_format(format, "runtime.weight_format"),
                               blob_version(version));
  }
  const auto held = impl_->publisher->publish(std::move(blob));  // with its SHA-256
  json nccl_note;
  if (impl_->nccl && impl_->nccl->failure().empty()) {
    // The same bytes the publisher holds ("nccl" publishes over ZeroMQ, so they are in `data`).
    impl_->nccl->send(version, std::shared_ptr<const std::vector<uint8_t>>(held, &held->data));
    nccl_note = {{"version", version}, {"bytes", held->data.size()}, {"sha256", held->sha256}, {"format", format}};
    if (impl_->nccl_versions.empty()) nccl_note["table"] = held->table;  // the same for every version
  }
  const double secs = seconds_between(t0, Clock::now());
  // With "fp32" a worker's model must hash as the learner's; a quantized version is checked by
  // the SHA-256 of the published bytes (and every worker's model hash equal to the others').
  const std::string hash = format == "fp32" ? model::weights_sha256(policy) : "";
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->learner_hash[version] = hash;
  impl_->learner_blob_sha256[version] = held->sha256;
  impl_->publish_seconds[version] = secs;
  impl_->version = version;
  impl_->announce_pending = true;
  if (!nccl_note.is_null()) impl_->nccl_versions.push_back(std::move(nccl_note));
  return secs;
}

void LearnerDriver::submit(long step, std::vector<SlotPrompt> prompts) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->ledger.add_step(step, prompts.size());
  for (size_t k = 0; k < prompts.size(); ++k) impl_->prompts[actor::slot_id(step, k)] = std::move(prompts[k]);
  impl_->times[step].submitted = Clock::now();
}

StepRollouts LearnerDriver::wait_step(long step) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> lk(d.mu);
  while (true) {
    d.cv.wait_for(lk, milliseconds(200), [&] { return !d.failure.empty() || d.ledger.step_complete(step); });
    if (!d.failure.empty()) throw Error(d.failure);
    if (!d.ledger.step_complete(step)) continue;
    // Asynchronous mode: a group that aged past max_staleness while it waited is sampled again.
    auto refused = d.ledger.refuse_stale(step, d.version);
    for (uint64_t slot : refused) d.scored.erase(slot);
    if (refused.empty()) break;
  }
  StepRollouts out;
  const auto counts = d.ledger.counts(step);
  for (long k = 0; k < counts.prompts; ++k) {
    const uint64_t slot = actor::slot_id(step, static_cast<size_t>(k));
    out.groups.push_back(std::move(d.scored.at(slot)));
    out.prompt_indices.push_back(d.prompts.at(slot).index);
    d.scored.erase(slot);
    d.prompts.erase(slot);
  }
  const auto c = d.ledger.finish_step(step);
  const auto& t = d.times[step];
  auto& m = out.counts;
  m["prompts/total"] = static_cast<double>(c.prompts);
  m["prompts/dispatched"] = static_cast<double>(c.dispatched);
  m["prompts/scored"] = static_cast<double>(c.scored);
  m["prompts/reassigned"] = static_cast<double>(c.reassigned);
  m["prompts/duplicates"] = static_cast<double>(c.duplicates);
  m["prompts/stale"] = static_cast<double>(c.stale);
  m["workers/restarts"] = static_cast<double>(d.restarts_since_step);
  m["workers/lost"] = static_cast<double>(d.lost_since_step);
  m["runtime/refused_messages"] = static_cast<double>(d.refused_since_step);
  const size_t refused_handshakes = actor::curve_refused();  // process-wide: this learner's servers
  m["runtime/curve_refused"] = static_cast<double>(refused_handshakes - d.curve_refused_before);
  d.curve_refused_before = refused_handshakes;
  d.restarts_since_step = d.lost_since_step = d.refused_since_step = 0;
  m["time/rollout_s"] = t.any_generated ? seconds_between(t.submitted, t.last_generated) : 0.0;
  m["time/reward_s"] = t.any_generated ? seconds_between(t.first_generated, t.last_scored) : 0.0;
  if (t.drafted > 0) out.gauges["rollout/mtp_acceptance"] = t.accepted / t.drafted;
  // The weights this step's rollouts used: the learner's publish plus the slowest worker's load.
  out.gauges["time/weight_sync_s"] = d.publish_seconds[d.version] + d.fetch_seconds[d.version];
  out.gauges["weights/version"] = static_cast<double>(d.version);
  d.times.erase(step);
  return out;
}

}  // namespace grpo::actor
