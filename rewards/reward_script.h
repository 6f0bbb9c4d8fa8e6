// A compiled reward script in its sandbox: the script contract (reward / reward_group), the
// conversion of what the script returns into a score, metrics or a recorded failure.
//
// Contract (shared/DESIGN.md "Formats"): the script defines reward(sample) where sample has
// prompt, completion, finish_reason, index (1-based within its group) and every field of
// the dataset row. It returns a number, a table { score = n, <name> = number|boolean ... }
// (the other fields become per-sample metrics), or nil ("not applicable": left out of the
// group baseline). It may define reward_group(samples) instead or as well: one return value
// per sample, same rules. Top-level code runs once per state; what it builds is read-only
// afterwards and every call starts from it, so nothing carries from one sample to the next.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/lua_sandbox.h"

namespace grpo::rewards {

enum class ScoreStatus {
  ok,
  not_applicable,  // the script returned nil: not a failure
  error,           // the script raised an error
  bad_return,      // wrong type, NaN/inf, a table without a numeric score
  budget,          // instruction budget exhausted
  memory,          // memory cap reached
  timeout,         // wall-clock deadline (in the hook, or the worker was killed)
  crashed,         // the worker process died
};
const char* score_status_name(ScoreStatus status);
ScoreStatus score_status_from_name(const std::string& name);

struct SampleResult {
  ScoreStatus status = ScoreStatus::ok;
  // The script's score; the fallback when failed(); 0 when not applicable.
  double score = 0;
  std::map<std::string, double> metrics;
  std::string error;   // message with traceback when failed()
  double seconds = 0;  // wall time of the call

  bool failed() const { return status != ScoreStatus::ok && status != ScoreStatus::not_applicable; }
  bool applicable() const { return status != ScoreStatus::not_applicable; }
};

nlohmann::json to_json(const SampleResult& r);
SampleResult sample_result_from_json(const nlohmann::json& j);

struct ScriptOptions {
  SandboxLimits limits;
  double fallback = 0.0;            // the score of a failed sample (recipe: reward.fallback)
  long long recycle_after = 10000;  // calls before the Lua state is rebuilt
  long long seed = 1;               // math.random is reseeded with seed + index before each call
};

class RewardScript {
 public:
  // Compiles `source` and runs its top level. Throws grpo::Error naming `path` when it does
  // not compile, its top level fails, or it defines neither reward nor reward_group.
  RewardScript(std::string source, std::string path, ScriptOptions options);
  ~RewardScript();

  const std::string& sha256() const { return sha256_; }
  const std::string& path() const { return path_; }
  bool has_reward() const { return has_reward_; }
  bool has_reward_group() const { return has_reward_group_; }
  const ScriptOptions& options() const { return options_; }

  // One sample with its 1-based index within its group. Never throws for script faults.
  SampleResult score(const nlohmann::json& sample, int index);
  // A whole group: reward_group when the script defines it, else reward per sample.
  std::vector<SampleResult> score_group(const std::vector<nlohmann::json>& samples);
  // The same for samples in the worker wire encoding (wire.h).
  SampleResult score_encoded(std::string_view sample, int index);
  std::vector<SampleResult> score_group_encoded(const std::vector<std::string_view>& samples);

  // Internal, for the protected trampolines.
  struct Refs {
    int chunk = LUA_NOREF;   // the compiled main chunk (its _ENV is set per call)
    int setup = LUA_NOREF;   // the environment the top level filled
    int env_mt = LUA_NOREF;  // metatable of per-call environments over `setup`
  };

 private:
  void load();
  void after_call(bool failed);
  SampleResult score_one(void* ctx);
  std::vector<SampleResult> score_many(void* ctx, size_t count);

  std::string source_, path_, sha256_;
  ScriptOptions options_;
  std::unique_ptr<Sandbox> sb_;
  Refs refs_;
  bool has_reward_ = false, has_reward_group_ = false;
  long long calls_ = 0;
};

}  // namespace grpo::rewards
