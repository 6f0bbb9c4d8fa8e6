// The reward actor: its own rewards::Scorer (Lua sandbox worker processes) scoring one trajectory
// group at a time. A script error or timeout is a recorded failure with the fallback reward
// (rewards/scorer.h); it never takes the actor down.
#include <csignal>
#include <memory>

#include "actor/prompt_ledger.h"
#include "actor/recipe_scorer.h"
#include "actor/worker_session.h"
#include "rewards/reward_sample.h"
#include "rewards/scorer.h"

namespace grpo::actor {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

rewards::SampleGroup samples_of(const actor::TrajectoryGroup& g) {
  rewards::SampleGroup out;
  for (const auto& c : g.completions) out.push_back(rewards::reward_sample(g.prompt.row, c.text, c.finish_reason));
  return out;
}

}  // namespace

int run_reward_actor(WorkerSession& session, const json& welcome) {
  std::unique_ptr<rewards::Scorer> own;
  rewards::Scorer* scorer = session.spec().scorer;
  if (!scorer) {
    learner::Recipe recipe;  // the learner's resolved recipe: paths already resolved
    recipe.file = welcome.value("recipe_file", "recipe.json");
    recipe.values = welcome.at("recipe");
    WorkerSession::KeepAlive alive(session, session.busy_limit());  // starting the sandbox processes
    own = std::make_unique<rewards::Scorer>(recipe.values["reward"]["script"].get<std::string>(),
                                            scorer_options_from_recipe(recipe));
    scorer = own.get();
  }
  // Scoring one group is one blocking call: heartbeats come from a KeepAlive meanwhile. Its limit
  // is what the sandbox allows a group (every sample at its full timeout, one after another) plus
  // slack, so a scorer that hangs past every sandbox limit still gets this worker declared lost.
  const json& recipe = welcome.at("recipe");
  const milliseconds group_limit(
      recipe["reward"]["timeout_ms"].get<long>() * recipe["rollout"]["group_size"].get<long>() + 30000);
  while (true) {
    auto env = session.next(milliseconds(500));
    if (!env) continue;
    const auto* m = std::get_if<actor::Message>(&*env);
    if (!m) continue;
    if (std::holds_alternative<actor::Shutdown>(*m)) return 0;
    const auto* g = std::get_if<actor::TrajectoryGroup>(m);
    if (!g) continue;
    actor::ScoredGroup out;
    out.group = *g;
    out.reward_script_sha256 = scorer->script_sha256();
    if (!g->completions.empty()) {
      WorkerSession::KeepAlive alive(session, group_limit);
      auto scored = scorer->score({samples_of(*g)});
      for (const auto& r : scored.groups.at(0)) {
        actor::SampleScore s;
        if (r.applicable()) s.reward = r.score;
        s.metrics = r.metrics;
        if (r.failed()) s.failure = r.error.empty() ? "failed" : r.error;
        out.scores.push_back(std::move(s));
      }
    }
    session.send(actor::Message{std::move(out)});
  }
}

}  // namespace grpo::actor
