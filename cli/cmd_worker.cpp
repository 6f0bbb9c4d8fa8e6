// grpo worker: one rollout or reward actor as its own process. `grpo train --processes` starts
// these (fork + exec of itself); the run token comes in GRPO_RUN_TOKEN, not on the command line.
#include <cstdio>
#include <cstdlib>

#include "actor/worker_session.h"
#include "cli/args.h"
#include "cli/command.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo worker --role rollout|reward --rank I --connect ENDPOINT [--incarnation N] [--curve-key-file FILE]\n"
    "\n"
    "Serves as one actor of a training run: says hello to the learner's hub at ENDPOINT (with the run\n"
    "token from GRPO_RUN_TOKEN), gets the run's settings from it, and works until the learner says\n"
    "shutdown or is gone. `grpo train --processes` starts these itself; you rarely need to.\n"
    "--incarnation N  restarts of this rank so far (the learner sets it)\n"
    "--curve-key-file FILE  the run's shared-key file (runtime.curve_key_file) when the learner uses CURVE\n"
    "--hello-timeout-s S    give up when the learner has not welcomed this worker after S seconds (default 60)";

int run_worker_command(const std::vector<std::string>& argv) {
  Args args("worker",
            {{"--role", true, ""},
             {"--rank", true, ""},
             {"--connect", true, ""},
             {"--incarnation", true, ""},
             {"--curve-key-file", true, ""},
             {"--hello-timeout-s", true, ""}},
            argv);
  actor::WorkerSpec spec;
  spec.role = args.require("--role");
  if (spec.role != "rollout" && spec.role != "reward")
    throw UsageError("--role " + spec.role + ": expected rollout or reward");
  spec.rank = static_cast<int>(args.get_int("--rank", -1));
  if (spec.rank < 0) throw UsageError("--rank: expected a rank >= 0");
  spec.incarnation = static_cast<int>(args.get_int("--incarnation", 0));
  spec.hub = args.require("--connect");
  const char* token = std::getenv("GRPO_RUN_TOKEN");
  spec.token = token ? token : "";
  if (const std::string key = args.get("--curve-key-file", ""); !key.empty())
    spec.curve = actor::load_curve_key_file(key);
  const long hello_s = args.get_int("--hello-timeout-s", 60);
  if (hello_s < 1 || hello_s > 86400) throw UsageError("--hello-timeout-s: expected 1 ... 86400 seconds");
  spec.hello_timeout = std::chrono::seconds(hello_s);
  return actor::run_worker(spec);
}

}  // namespace

GRPO_COMMAND("worker", "serve as one rollout or reward actor of a run (started by grpo train)", kUsage,
             run_worker_command, 11);

}  // namespace grpo::cli
