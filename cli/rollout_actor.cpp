// The rollout actor: its own copy of the model and its own rollout::Generator calls. It loads a
// new weight version only between generation calls (never inside a forward): when the learner
// announces one, and before a prompt batch that asks for a newer one than it holds.
#include <csignal>
#include <cstdio>

#include "actor/weight_sync.h"
#include "cli/actor_weights.h"
#include "cli/actor_worker.h"
#include "common/error.h"
#include "model/config.h"
#include "model/fp8_training.h"
#include "model/tokenizer.h"
#include "rollout/generator.h"

namespace grpo::cli {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

class RolloutActor {
 public:
  RolloutActor(WorkerSession& session, const json& welcome)
      : session_(session),
        lm_(model::config_from_json(welcome.at("model_config"), "the learner's welcome (model_config)")),
        subscriber_(welcome.at("weights_endpoint").get<std::string>()) {
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
      if (!m) continue;
      if (const auto* a = std::get_if<actor::WeightAnnouncement>(m)) sync_weights(a->version);
      else if (const auto* b = std::get_if<actor::PromptBatch>(m)) serve(*b);
      else if (std::holds_alternative<actor::Shutdown>(*m)) return 0;
    }
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
      load_weights_blob(lm_, *blob);
      have_ = policy_version(blob->version);
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      session_.send(actor::Control{"weights", {{"version", *have_}, {"hash", weights_hash(lm_)}, {"seconds", seconds}}});
    }
  }

  void serve(const actor::PromptBatch& batch) {
    const long step = static_cast<long>(batch.batch_id);
    if (test_kill_due(session_.spec(), step)) ::raise(SIGKILL);  // test hook (actor_worker.h)
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
    auto results = rollout::generate(lm_, requests, options_);
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
    session_.send(actor::Control{"stats", {{"step", step}, {"drafted", drafted}, {"accepted", accepted},
                                           {"seconds", seconds}, {"version", *have_}}});
  }

  WorkerSession& session_;
  model::CausalLM lm_;
  actor::WeightSubscriber subscriber_;
  std::optional<uint64_t> have_;
  std::optional<Tokenizer> tokenizer_;
  rollout::GenerationRequest base_;
  rollout::GeneratorOptions options_;
};

}  // namespace

int run_rollout_actor(WorkerSession& session, const json& welcome) {
  RolloutActor actor(session, welcome);
  return actor.run();
}

}  // namespace grpo::cli
