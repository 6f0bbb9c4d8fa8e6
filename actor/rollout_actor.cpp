// The rollout actor: its own copy of the model and its own rollout::Generator calls. It loads a
// new weight version only between generation calls (never inside a forward): when the learner
// announces one, and before a prompt batch that asks for a newer one than it holds.
#include <csignal>
#include <cstdio>

#include "actor/weight_versions.h"
#include "actor/weights/nccl_broadcast.h"
#include "actor/weights/weight_sync.h"
#include "actor/worker_session.h"
#include "common/error.h"
#include "model/config.h"
#include "model/fp8_training.h"
#include "model/tokenizer.h"
#include "model/weight_blob.h"
#include "rollout/generator.h"

namespace grpo::actor {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

actor::WeightSyncOptions subscriber_options(const WorkerSession& session) {
  actor::WeightSyncOptions o;
  o.curve = session.spec().curve;  // the publisher is a CURVE server when the hub is
  return o;
}

class RolloutActor {
 public:
  RolloutActor(WorkerSession& session, const json& welcome, std::unique_ptr<actor::NcclBroadcaster> nccl)
      : session_(session),
        nccl_(std::move(nccl)),
        lm_(model::config_from_json(welcome.at("model_config"), "the learner's welcome (model_config)")),
        subscriber_(welcome.at("weights_endpoint").get<std::string>(), subscriber_options(session)) {
    const json& v = welcome.at("recipe");
    if (const long threads = v["runtime"]["threads"].get<long>(); threads > 0 && welcome.value("set_threads", false))
      torch::set_num_threads(static_cast<int>(threads));
    if (v["model"]["precision"] == "fp8") model::enable_fp8_training(lm_);  // the learner's forward
    for (auto& p : lm_->parameters()) p.set_requires_grad(false);
    lm_->eval();
    if (const std::string tok = welcome.value("tokenizer", ""); !tok.empty()) tokenizer_ = Tokenizer::from_file(tok);
    base_.group_size = v["rollout"]["group_size"].get<long>();
    base_.max_new_tokens = v["rollout"]["max_new_tokens"].get<long>();
    base_.sampling.temperature = v["rollout"]["temperature"].get<double>();
    base_.sampling.top_p = v["rollout"]["top_p"].get<double>();
    base_.sampling.top_k = v["rollout"]["top_k"].get<long>();
    base_.sampling.min_p = v["rollout"]["min_p"].get<double>();
    base_.stop = v["rollout"]["stop"].get<std::vector<std::string>>();
    options_.eos_token_ids = lm_->config.eos_token_ids;
    options_.speculative = v["rollout"]["mtp_draft"].get<bool>() ? 1 : 0;
    options_.decode = [this](const std::vector<int64_t>& ids) { return decode(ids); };
    options_.between_steps = [this](int64_t) { session_.pump(); };  // alive while generating
  }

  int run() {
    while (true) {
      auto env = session_.next(milliseconds(500));
      if (!env) continue;
      const auto* m = std::get_if<actor::Message>(&*env);
      if (const auto* c = std::get_if<actor::Control>(&*env); c && c->kind == "nccl_weights") receive_nccl(c->body);
      if (!m) continue;
      if (const auto* a = std::get_if<actor::WeightAnnouncement>(m))
        sync_weights(a->version);
      else if (const auto* b = std::get_if<actor::PromptBatch>(m))
        serve(*b);
      else if (std::holds_alternative<actor::Shutdown>(*m))
        return 0;
    }
  }

  // Abort, not finalize: at the end the learner has given the communicator up already, and a
  // finalize would wait for it until the broadcast deadline.
  ~RolloutActor() {
    if (nccl_) nccl_->abort();
  }

 private:
  std::string decode(const std::vector<int64_t>& ids) const {
    if (tokenizer_) return tokenizer_->decode(ids);
    std::string s;  // without a tokenizer the script sees the ids, space-separated (as train_loop)
    for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
  }

  // Loads versions until it holds at least `version`; reports each version's hash.
  void sync_weights(uint64_t version) {
    while (!have_ || *have_ < version) {
      const auto t0 = Clock::now();
      auto blob = subscriber_.fetch_newer(have_ ? blob_version(*have_) : 0, milliseconds(1000));
      session_.beat();
      if (session_.stopping()) return;
      if (!blob) {
        session_.pump();  // notices a learner that is gone
        continue;
      }
      install(*blob, t0, "pull");
    }
  }

  // Loads a version that arrived whole and checked, and reports it (version, the hash of the
  // model it made, the published bytes' SHA-256, the seconds since `t0`, and how it came).
  void install(const grpo::WeightBlob& blob, Clock::time_point t0, const char* via) {
    std::string hash;
    {
      WorkerSession::KeepAlive alive(session_, session_.busy_limit());  // a large model loads and hashes for seconds
      model::load_blob(lm_, blob);
      hash = model::weights_sha256(lm_);
    }
    have_ = policy_version(blob.version);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    session_.send(actor::Control{
        "weights",
        {{"version", *have_}, {"hash", hash}, {"seconds", seconds}, {"via", via}, {"blob_sha256", blob.sha256}}});
  }

  // One broadcast version: every member takes part, even one that already holds it.
  void receive_nccl(const json& note) {
    if (!nccl_) return;  // not (or no longer) a member: announcements and batches make it pull
    const uint64_t version = note.at("version").get<uint64_t>();
    if (note.contains("table")) nccl_table_ = note.at("table");  // the first note carries the layout
    const auto t0 = Clock::now();
    grpo::WeightBlob blob;
    blob.version = blob_version(version);
    blob.format = note.value("format", "fp32");
    blob.table = nccl_table_;
    blob.data.resize(note.at("bytes").get<size_t>());
    blob.sha256 = note.at("sha256").get<std::string>();
    try {
      {
        WorkerSession::KeepAlive alive(session_, session_.busy_limit());  // the broadcast has its own, shorter deadline
        nccl_->broadcast_host(blob.data.data(), blob.data.size());
      }
      if (have_ && *have_ >= version) return;
      if (grpo::sha256_hex(blob.data.data(), blob.data.size()) != blob.sha256)
        throw actor::NcclError("version " + std::to_string(version) +
                               " arrived with another SHA-256 than the learner's");
    } catch (const actor::NcclError& e) {
      nccl_->abort();  // after a hash mismatch it is still healthy: a finalize would wait for the learner
      nccl_.reset();
      std::fprintf(stderr, "grpo worker rollout-%d: NCCL weight broadcast failed (%s); pulling weights instead\n",
                   session_.spec().rank, e.what());
      session_.send(actor::Control{"nccl_left", {{"reason", e.what()}}});  // the learner stops broadcasting
      sync_weights(version);
      return;
    }
    install(blob, t0, "nccl");
  }

  void serve(const actor::PromptBatch& batch) {
    const long step = static_cast<long>(batch.batch_id);
    sync_weights(batch.weight_version);
    if (!have_) return;  // stopping before any weights arrived
    std::vector<rollout::GenerationRequest> requests;
    for (const auto& p : batch.prompts) {
      requests.push_back(base_);
      requests.back().prompt.assign(p.tokens.begin(), p.tokens.end());
      requests.back().sampling.seed = p.row.value("sampling_seed", uint64_t{0});
    }
    options_.weight_version = *have_;
    const auto t0 = Clock::now();
    std::vector<rollout::GenerationResult> results;
    {
      // Decode steps beat through options_.between_steps; the prefill of a long batch is one
      // forward, so a KeepAlive covers it.
      WorkerSession::KeepAlive alive(session_, session_.busy_limit());
      results = rollout::generate(lm_, requests, options_);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    int64_t drafted = 0, accepted = 0;
    for (size_t k = 0; k < results.size(); ++k) {
      actor::TrajectoryGroup g;
      g.batch_id = batch.batch_id;
      g.prompt = batch.prompts[k];
      if (!results[k].error.empty()) g.prompt.row["generation_error"] = results[k].error;
      drafted += results[k].drafted;
      accepted += results[k].accepted;
      for (const auto& c : results[k].completions) {
        actor::Completion lc;
        lc.text = decode(c.tokens);
        lc.tokens.assign(c.tokens.begin(), c.tokens.end());
        lc.logprobs = c.logprobs;
        lc.finish_reason = c.finish_reason;
        lc.version_start = lc.version_end = *have_;  // one version per call (loaded before it)
        g.completions.push_back(std::move(lc));
      }
      session_.send(actor::Message{std::move(g)});
    }
    session_.send(actor::Control{
        "stats",
        {{"step", step}, {"drafted", drafted}, {"accepted", accepted}, {"seconds", seconds}, {"version", *have_}}});
  }

  WorkerSession& session_;
  std::unique_ptr<actor::NcclBroadcaster> nccl_;  // runtime.weight_sync "nccl" members only
  model::CausalLM lm_;
  actor::WeightSubscriber subscriber_;
  json nccl_table_;
  std::optional<uint64_t> have_;
  std::optional<Tokenizer> tokenizer_;
  rollout::GenerationRequest base_;
  rollout::GeneratorOptions options_;
};

// runtime.weight_sync "nccl" (actor/weights/nccl_weight_sender.h): the first incarnation of each rank joins the
// learner's communicator as rank + 1, right after the welcome (before building its model, so every
// member joins at about the same time as the learner). A restarted worker cannot join; it pulls.
std::unique_ptr<actor::NcclBroadcaster> join_nccl(WorkerSession& session, const json& welcome) {
  if (!welcome.contains("nccl") || session.spec().incarnation != 0) return nullptr;
  const json& n = welcome.at("nccl");
  actor::NcclBroadcastOptions options;
  options.timeout = milliseconds(n.value("join_timeout_ms", 60000L));
  const int rank = session.spec().rank + 1;
  const int device = n.value("assign_devices", false) ? rank % std::max(actor::cuda_device_count(), 1)
                                                      : actor::local_cuda_device(rank);
  try {
    auto comm = std::make_unique<actor::NcclBroadcaster>(n.at("id").get<std::string>(), rank, n.at("world").get<int>(),
                                                         device, options);
    comm->set_timeout(milliseconds(n.value("timeout_ms", 30000L)));
    return comm;
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "grpo worker rollout-%d: cannot join the NCCL weight broadcast (%s); pulling weights instead\n",
                 session.spec().rank, e.what());
    session.send(actor::Control{"nccl_left", {{"reason", e.what()}}});
    return nullptr;
  }
}

}  // namespace

int run_rollout_actor(WorkerSession& session, const json& welcome) {
  std::optional<RolloutActor> actor;
  {
    // Joining NCCL (its own deadline: the startup timeout) and building a large model take a while.
    WorkerSession::KeepAlive alive(session, 2 * session.busy_limit());
    auto nccl = join_nccl(session, welcome);
    actor.emplace(session, welcome, std::move(nccl));
  }
  return actor->run();
}

}  // namespace grpo::actor
