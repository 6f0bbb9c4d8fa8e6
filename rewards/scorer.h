// The scorer the rest of the system calls: trajectory groups in, scores, metrics and
// recorded failures out, with the SHA-256 of the script that produced them.
//
// Scoring runs in W worker processes (fork, one compiled script each). The parent gives
// every sample a wall-clock deadline; a worker still busy past it (e.g. stuck inside a C
// function such as string.find on a pathological pattern, where no hook fires) is killed
// with SIGKILL and respawned, the sample gets status `timeout`, and the samples queued
// behind it are rescored on the new worker. See docs/lua_sandbox.md.
//
// Workers are forked from the calling process. glibc keeps malloc usable after fork, and a
// worker runs only Lua and this library, so forking from a multi-threaded process (the
// learner) is safe in practice; create the Scorer early where you can.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rewards/reward_script.h"

namespace grpo::rewards {

struct ScorerOptions {
  ScriptOptions script;     // limits, fallback, seed
  int workers = 1;          // worker processes; 0 scores in the calling thread (then nothing
                            // stops a C function that runs long)
  int kill_grace_ms = 250;  // past the per-sample timeout before a worker is killed: the
                            // in-process hook gets the first chance to report with a traceback
  int pipeline = 64;        // samples sent ahead to each worker
};

// One trajectory group: each sample is a JSON object with prompt, completion, finish_reason
// and the dataset row's fields (`index` is added by the scorer).
using SampleGroup = std::vector<nlohmann::json>;

struct ScoredBatch {
  std::string script_sha256;
  std::vector<std::vector<SampleResult>> groups;  // same shape as the input
};

struct ScorerStats {
  long long samples = 0;
  long long failures = 0;
  long long workers_killed = 0;  // deadline kills
  long long workers_crashed = 0;
};

class Scorer {
 public:
  // Reads and compiles the script; throws grpo::Error naming the file when it does not load.
  Scorer(const std::string& script_path, ScorerOptions options);
  Scorer(std::string source, std::string path, ScorerOptions options);
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  // Scores every group. Never throws for anything a script or a sample does. Not reentrant:
  // one caller at a time.
  ScoredBatch score(const std::vector<SampleGroup>& groups);

  const std::string& script_sha256() const;
  const ScorerStats& stats() const { return stats_; }
  int workers() const { return options_.workers; }

  struct Pool;  // worker processes (scorer.cpp)

 private:
  ScorerOptions options_;
  std::unique_ptr<RewardScript> local_;  // validates the script; scores when workers == 0
  std::string source_, path_;
  std::unique_ptr<Pool> pool_;
  ScorerStats stats_;
};

}  // namespace grpo::rewards
